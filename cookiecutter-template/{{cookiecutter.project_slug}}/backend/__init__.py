"""The generated Label Studio ML backend: a runtime driven by spec.json.

Nothing is imported here, so the mlgen generator can load the shared modules (labelconfig,
features, model, scoring) without the web and queue stack.
"""
