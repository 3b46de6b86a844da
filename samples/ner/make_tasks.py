"""Generate tasks.json and heldout_labels.json for the `ner` sample (named-entity spans).

The texts are synthetic news snippets: sentence templates filled with people, organisations,
places and dates drawn from the lists below, all written for this sample (the people and the
organisations are invented; the places are real). No package and no network are needed; run
with any Python 3.11 from anywhere:

    python samples/ner/make_tasks.py          # rewrite the files
    python samples/ner/make_tasks.py --check  # exit 1 if they are stale

The output is deterministic: same script, same seed, same files.

What it does:
1. Writes N_TASKS texts of 1-3 sentences. Most sentences come from TEMPLATES, whose slots
   {PER} {ORG} {LOC} {DATE} (and variants) are filled from the lists; NEUTRAL sentences hold no
   entity, and about one text in eight is made of them only. Names are drawn with Zipf-like
   weights (a few frequent, a long tail), so a held-out text still meets names never seen in
   training. Sentences are joined by a space, and in about one text in ten by "\\r\\n" line
   breaks, so that offsets are exercised on two-character line breaks; many names are non-ASCII
   (Zoë, São Paulo, Łódź).
2. Records every entity's character offsets (Python str indexes, as Label Studio counts them)
   while it builds the text, so the offsets are exact by construction; a title (Dr, Ms) and a
   possessive 's are outside the PER span, and a place inside an organisation's name
   ("University of Łódź") is part of the ORG span only.
3. Annotates N_ANNOTATED tasks at random positions of the task list: each carries one `labels`
   region per entity, with a short unique id.
4. Writes tasks.json (Label Studio import format) and heldout_labels.json (every task's true
   entities, `[start, end, label, text]`, in the order of tasks.json).
"""

from __future__ import annotations

import random
import re
import string
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from layout import main, spread  # noqa: E402  (samples/layout.py, shared by the samples)

N_TASKS = 300
N_ANNOTATED = 120
SEED = 20250611
FROM_NAME, TO_NAME, FIELD = "label", "text", "text"  # as in labeling_config.xml
LABELS = ("PER", "ORG", "LOC", "DATE")
HERE = Path(__file__).resolve().parent

FIRST_NAMES = """Zoë José Søren Łukasz Małgorzata Björn Aoife Chloé François Jürgen Siobhán Núria Zeynep
Ömer Åsa Ingrid Raúl Inês Mateus Amara Kwame Priya Arjun Mei Hiroshi Yuki Fatima Omar Leila Dmitri Olga
Anna Maria James Sarah David Emily Michael Grace Daniel Laura Tomás Elena Marco Giulia Pieter Sanne
Niamh Ewa Katarzyna Andrés Camila Lucía Diego Noah Liam Olivia Hannah Ruth Samuel Aisha Tariq Nadia
Viktor Jean-Luc Anne-Marie Florence Georgia Jordan Austin Thảo Çağan Mikael Rosa Ahmed Chiara""".split()
SURNAMES = """Kim Nowak Müller Dvořák García Silva Ødegaard Nguyen Okafor Mensah Patel Sharma Tanaka Sato
Haddad Rahman Ivanov Petrova Smith Johnson Brown Taylor Wilson Martin O'Neill O'Sullivan McCarthy Rossi
Bianchi Jansen Kowalski Wiśniewska Lindqvist Johansson Fernández López Gómez Costa Pereira Schmidt
Weber Fischer Dubois Lefèvre Moreau Chen Wang Zhang Murphy Kelly Byrne Novák Horváth Yılmaz Demir Şahin
Andersen Hansen Virtanen Korhonen Papadopoulos Georgiou Abebe Banda Cohen Levi Brennan Hughes
Nakamura Achterberg Castillo Mwangi""".split() + ["van Dijk", "de Vries", "da Costa"]
TITLES = ["Dr", "Dr.", "Ms", "Mr", "Mrs", "Prof.", "Professor", "Judge", "Senator"]
CITIES = """São Paulo|Łódź|Kraków|Zürich|Malmö|Reykjavík|Düsseldorf|Montréal|Bogotá|Brasília|Göteborg|
Córdoba|Köln|Gdańsk|Tromsø|Aarhus|Lisbon|Porto|Madrid|Seville|Lyon|Marseille|Nantes|Berlin|Hamburg|
Munich|Vienna|Prague|Brno|Budapest|Warsaw|Vilnius|Riga|Tallinn|Helsinki|Oslo|Bergen|Copenhagen|Dublin|
Cork|Galway|Edinburgh|Glasgow|Cardiff|Leeds|Manchester|Bristol|Nairobi|Lagos|Accra|Kampala|Cairo|
Casablanca|Istanbul|İzmir|Ankara|Mumbai|Pune|Chennai|Dhaka|Hanoi|Osaka|Kyoto|Seoul|Busan|Melbourne|
Auckland|Toronto|Vancouver|Chicago|Denver|Boston|Austin|Lima|Quito|Santiago|New York|Los Angeles|
Buenos Aires|Cape Town|Rio de Janeiro|Hong Kong|Kuala Lumpur|Florence|Jyväskylä|Plzeň""".replace("\n", "").split("|")
COUNTRIES = """Portugal|Brazil|Poland|Norway|Iceland|Kenya|Ghana|Vietnam|Japan|Chile|Peru|Canada|Ireland|
New Zealand|South Korea|Georgia|Jordan|Morocco|Finland|Estonia|Colombia|Ecuador|Türkiye|Côte d'Ivoire|
Bavaria|Catalonia|Patagonia|Silesia|Andalusia|Scandinavia""".replace("\n", "").split("|")
ORG_WORDS = """Veltrix Nordwind Bluewater Quantia Solvara Ironbridge Greenleaf Brightpath Corvid Halcyon
Meridian Tessellate Kestrel Lumen Orbis Pinecrest Redwood Silverline Arcadia Northstar Helix Cobalt
Juniper Zephyr Aurora Sable Vantage Obsidian Marlow Fjordline Żuraw Éclair Strömberg Kiona""".split()
ORG_SUFFIXES = """Systems Group Labs Bank Energy Logistics Foods Pharma Analytics Partners Media Airlines
Motors Capital Robotics Holdings Ltd AG GmbH Inc Insurance Telecom""".split()
PUBLIC_BODIES = ["National Water Board", "European Space Forum", "International Rail Union",
                 "Ministry of Health", "Ministry of Finance", "Federal Statistics Office",
                 "World Nutrition Council", "Central Bank", "Supreme Court", "Red Crescent Society",
                 "Ocean Research Trust", "Civil Aviation Authority"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

# {PER} a full name; {TPER} a title and a surname (the span is the surname); {ORG}, {CLUB} an
# organisation; {LOC} a city or country, {CITY} a city; {DATE} a day ("on {DATE}"), {MONTH} a month
# ("in {MONTH}"), {YEAR} a year: all three DATE; {NAT} a nationality, capitalised but no entity.
TEMPLATES = """{PER}, chief executive of {ORG}, said the company would open a new office in {LOC}.
{ORG} announced on {DATE} that it had acquired {ORG} for an undisclosed sum.
Speaking in {CITY}, {PER} warned that prices could rise again before {DATE}.
The {CITY} branch of {ORG} will close on {DATE}, according to {PER}.
{PER} has been appointed head of research at {ORG}.
Flights between {CITY} and {CITY} were cancelled on {DATE} after heavy snow.
{PER} and {PER} met in {LOC} to discuss the merger.
Shares in {ORG} fell 4.2 percent after {ORG}'s quarterly results.
{ORG} said {TPER} would step down in {MONTH}.
A spokesperson for {ORG} declined to comment.
{PER}'s new novel is set in {LOC} in the 1920s.
Police in {CITY} said two people had been arrested.
The festival returns to {CITY} on {DATE} with more than 200 artists.
{PER}, who grew up in {LOC}, joined {ORG} in {YEAR}.
Researchers at {ORG} and {ORG} published the study on {DATE}.
{TPER} told reporters in {CITY} that talks would resume on {DATE}.
{ORG} will build a 300-megawatt wind farm near {CITY}.
According to {ORG}, unemployment in {LOC} rose to 6.1% in {MONTH}.
{PER} scored twice as {CLUB} beat {CLUB} 3-1 on {DATE}.
The mayor of {CITY}, {PER}, opened the new bridge on {DATE}.
{PER} (born {YEAR}) is a designer based in {CITY}.
"We are very proud of the team," said {PER} of {ORG}.
{ORG} moved its headquarters from {CITY} to {CITY} in {YEAR}.
Tickets for the concert by {PER} in {CITY} sold out within minutes.
{TPER}, a professor at {ORG}, led the excavation outside {CITY}.
The report, written by {PER} and {TPER}, was published by {ORG} last week.
{LOC} and {LOC} signed a new trade agreement on {DATE}.
{PER} won the {CITY} marathon in 2 hours 9 minutes.
Workers at {ORG}'s plant in {LOC} went on strike on {DATE}.
{ORG} hired {PER} from rival {ORG}.
In {YEAR}, {PER} became the first woman to lead {ORG}.
{TPER} said the ruling by the {ORG} was "deeply disappointing".
Exports from {LOC} to {LOC} grew by 12% last year, {ORG} said.
{PER} will travel to {CITY} next week to meet officials from {ORG}.
The {ORG} approved the plan on {DATE}.
{CLUB} confirmed that {PER} had signed a three-year contract.
Born in {CITY}, {PER} studied law before joining {ORG}.
Thousands marched through {CITY} on {DATE}.
{ORG} expects to hire 1,200 people in {LOC} by {YEAR}.
"It was a difficult decision," {TPER} told the {ORG} board.
The {NAT} government has asked {PER} to lead an inquiry into the collapse of {ORG}.
{ORG}, the {NAT} carmaker, recalled 40,000 vehicles on {DATE}.
Fans in {CITY} queued overnight to see {PER}, the {NAT} singer.
A {NAT} court fined {ORG} 2.3 million euros on {DATE}.
{PER} left {CITY} for {LOC} in {YEAR} and never returned.
On {DATE}, {TPER} resigned as chair of {ORG}.
{ORG} and its {NAT} partner {ORG} plan to merge by {YEAR}.
Asked about {PER}, the {NAT} minister said only that "talks continue".
Ambulances from {ORG} reached the village near {CITY} within an hour.
{PER}, 54, a former {ORG} engineer, now runs a bakery in {CITY}.
The trial in {CITY} of {PER} is expected to last until {MONTH}.
Record temperatures were measured in {LOC} and much of {LOC} on {DATE}.""".splitlines()
NATIONALITIES = """Portuguese Brazilian Polish Norwegian Icelandic Kenyan Ghanaian Vietnamese Japanese Chilean
Peruvian Canadian Irish French German Swedish Turkish Finnish Czech Hungarian""".split()
NEUTRAL = """The meeting lasted more than three hours.
Prices rose sharply over the summer.
Officials said the results would be published next month.
Nobody was injured in the incident.
The new policy takes effect immediately.
Analysts had expected a smaller decline.
The museum will remain closed for repairs.
Both sides described the talks as constructive.
Residents were asked to stay indoors.
It was the third such incident this year.
The company did not say how many jobs would be affected.
Heavy rain is forecast for the weekend.
Turnout was higher than in previous elections.
The plan still needs the approval of the board.
Sales of electric cars doubled compared with a year earlier.
The bridge had been closed since the spring.
Critics say the changes do not go far enough.
A decision is expected later this month.""".splitlines()
SLOT = re.compile(r"\{(PER|TPER|ORG|CLUB|LOC|CITY|DATE|MONTH|YEAR|NAT)\}")


def zipf(rng: random.Random, items: list[str]) -> str:
    """One item, the k-th (in the list's order) drawn with weight 1/(k+5): a few frequent, a long tail."""
    return rng.choices(items, weights=[1 / (k + 5) for k in range(len(items))])[0]


def organisation(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.5:
        return f"{zipf(rng, ORG_WORDS)} {rng.choice(ORG_SUFFIXES)}"
    if kind < 0.65:
        return rng.choice(PUBLIC_BODIES)
    if kind < 0.8:
        pattern = rng.choice(["University of {}", "{} City Council", "{} General Hospital",
                              "{} Institute of Technology", "Bank of {}"])
        return pattern.format(zipf(rng, CITIES))
    if kind < 0.9:
        return f"{zipf(rng, SURNAMES)} & {zipf(rng, SURNAMES)}"
    return f"{zipf(rng, SURNAMES)} Foods"


def club(rng: random.Random) -> str:
    return rng.choice(["FC {}", "{} United", "Sporting {}", "{} Rovers"]).format(zipf(rng, CITIES))


def date(slot: str, rng: random.Random) -> str:
    day, month, year = rng.randint(1, 28), rng.choice(MONTHS), rng.randint(1990, 2025)
    if slot == "YEAR":
        return str(year)
    if slot == "MONTH":
        return rng.choice([f"{month} {year}", month])
    return rng.choice([f"{day} {month} {year}", f"{month} {day}, {year}", rng.choice(WEEKDAYS), f"{day} {month}"])


def fill(slot: str, rng: random.Random) -> tuple[str, str, int, int]:
    """(the slot's text, its label, where the entity starts and ends inside that text)."""
    if slot == "PER":
        name = f"{zipf(rng, FIRST_NAMES)} {zipf(rng, SURNAMES)}"
        return name, "PER", 0, len(name)
    if slot == "TPER":
        title, surname = rng.choice(TITLES), zipf(rng, SURNAMES)
        return f"{title} {surname}", "PER", len(title) + 1, len(title) + 1 + len(surname)
    if slot in ("ORG", "CLUB"):
        name = organisation(rng) if slot == "ORG" else club(rng)
        return name, "ORG", 0, len(name)
    if slot in ("LOC", "CITY"):
        name = zipf(rng, CITIES) if slot == "CITY" or rng.random() < 0.6 else zipf(rng, COUNTRIES)
        return name, "LOC", 0, len(name)
    text = date(slot, rng)
    return text, "DATE", 0, len(text)


def sentence(template: str, rng: random.Random, offset: int) -> tuple[str, list[list]]:
    """The template filled in, and its entities [start, end, label, text] counted from `offset`."""
    parts, spans, at = [], [], offset
    for i, piece in enumerate(SLOT.split(template)):
        if i % 2 and piece == "NAT":  # a capitalised word that is no entity
            piece = rng.choice(NATIONALITIES)
        elif i % 2:
            piece, label, start, end = fill(piece, rng)
            spans.append([at + start, at + end, label, piece[start:end]])
        parts.append(piece)
        at += len(piece)
    return "".join(parts), spans


def text_and_spans(rng: random.Random) -> tuple[str, list[list]]:
    n_sentences = rng.choice([1, 1, 2, 2, 2, 3])
    neutral_only = rng.random() < 0.125
    joiner = rng.choices([" ", "\r\n", "\n\n"], weights=[85, 10, 5])[0]
    text, spans = "", []
    for k in range(n_sentences):
        if k:
            text += joiner
        template = rng.choice(NEUTRAL if neutral_only or rng.random() < 0.15 else TEMPLATES)
        piece, found = sentence(template, rng, len(text))
        text += piece
        spans += found
    return text, spans


def region_id(rng: random.Random, taken: set[str]) -> str:
    while True:
        found = "".join(rng.choices(string.ascii_letters + string.digits, k=10))
        if found not in taken:
            taken.add(found)
            return found


def region(start: int, end: int, label: str, text: str, rng: random.Random, taken: set[str]) -> dict:
    return {"id": region_id(rng, taken), "from_name": FROM_NAME, "to_name": TO_NAME, "type": "labels",
            "value": {"start": start, "end": end, "text": text, "labels": [label]}}


def build() -> tuple[list[dict], list[list]]:
    rng = random.Random(SEED)
    items, seen = [], set()
    while len(items) < N_TASKS:
        text, spans = text_and_spans(rng)
        if text not in seen:  # a one-sentence neutral text can come up twice
            seen.add(text)
            items.append((text, spans))
    for text, spans in items:
        assert all(text[start:end] == said for start, end, _, said in spans), text
    annotated, rest = items[:N_ANNOTATED], items[N_ANNOTATED:]
    tasks, labels, taken = [], [], set()
    for text, spans, is_annotated in spread(annotated, rest, rng):
        task: dict = {"data": {FIELD: text}}
        if is_annotated:
            task["annotations"] = [{"result": [region(*span, rng, taken) for span in spans]}]
        tasks.append(task)
        labels.append(spans)
    return tasks, labels


def types_in(spans: list[list]) -> list[str]:
    """The rows of the printed summary a task counts under: each entity type it holds."""
    return sorted({label for _, _, label, _ in spans}) or ["(no entity)"]


if __name__ == "__main__":
    sys.exit(main(build, HERE, group=types_in))
