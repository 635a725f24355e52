"""Write ``alpaca_demo.jsonl``: a small, varied Alpaca-format SFT dataset made for templates-hub's examples.

Every row is composed here from small tables and computed answers (arithmetic, unit conversions, string
manipulation, sorting, facts from the tables below, rewriting tasks), so the answers are correct and
the file can be rebuilt byte for byte:

    python examples/demo/make_demo_data.py            # writes examples/demo/alpaca_demo.jsonl
    python examples/demo/make_demo_data.py --check    # exits 1 if the committed file differs

The mix is chosen to exercise the pipeline: rows with ``input``, with ``system``, multi-turn ``history``
rows, Chinese rows, a few long prompts (so several 200-word length buckets are populated, one of them
by a single row, which the seed notebook would throw away and ``split`` merges into its neighbour),
a few deliberately bad rows (empty, blank or too-short answers) that validation and the notebook's
``len(output.strip()) > 5`` filter remove, two answers with placeholder text and one exact duplicate
(which the notebook keeps, and ``alpaca_clean.yaml``'s blocklist and exact_dedup remove).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "alpaca_demo.jsonl"
SEED = 20240611

Row = dict[str, object]

# --------------------------------------------------------------------------- small fact tables (written here)
ELEMENTS = [  # name, symbol, atomic number
    ("hydrogen", "H", 1), ("helium", "He", 2), ("lithium", "Li", 3), ("carbon", "C", 6), ("nitrogen", "N", 7),
    ("oxygen", "O", 8), ("fluorine", "F", 9), ("neon", "Ne", 10), ("sodium", "Na", 11), ("magnesium", "Mg", 12),
    ("aluminium", "Al", 13), ("silicon", "Si", 14), ("phosphorus", "P", 15), ("sulfur", "S", 16),
    ("chlorine", "Cl", 17), ("argon", "Ar", 18), ("potassium", "K", 19), ("calcium", "Ca", 20), ("iron", "Fe", 26),
    ("copper", "Cu", 29), ("zinc", "Zn", 30), ("silver", "Ag", 47), ("tin", "Sn", 50), ("gold", "Au", 79),
    ("lead", "Pb", 82),
]
CAPITALS = [  # country, capital, continent
    ("France", "Paris", "Europe"), ("Japan", "Tokyo", "Asia"), ("Canada", "Ottawa", "North America"),
    ("Australia", "Canberra", "Oceania"), ("Brazil", "Brasília", "South America"), ("Kenya", "Nairobi", "Africa"),
    ("Egypt", "Cairo", "Africa"), ("India", "New Delhi", "Asia"), ("Germany", "Berlin", "Europe"),
    ("Spain", "Madrid", "Europe"), ("Italy", "Rome", "Europe"), ("Mexico", "Mexico City", "North America"),
    ("Argentina", "Buenos Aires", "South America"), ("South Korea", "Seoul", "Asia"), ("Norway", "Oslo", "Europe"),
    ("Peru", "Lima", "South America"), ("Turkey", "Ankara", "Asia"), ("Vietnam", "Hanoi", "Asia"),
    ("Nigeria", "Abuja", "Africa"), ("Thailand", "Bangkok", "Asia"),
]
PLANETS = [  # name, order from the Sun, kind
    ("Mercury", 1, "rocky planet"), ("Venus", 2, "rocky planet"), ("Earth", 3, "rocky planet"),
    ("Mars", 4, "rocky planet"), ("Jupiter", 5, "gas giant"), ("Saturn", 6, "gas giant"),
    ("Uranus", 7, "ice giant"), ("Neptune", 8, "ice giant"),
]
ORDINALS = ["", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth"]
CAPITALS_ZH = [("法国", "巴黎"), ("日本", "东京"), ("德国", "柏林"), ("意大利", "罗马"), ("西班牙", "马德里"),
               ("加拿大", "渥太华"), ("澳大利亚", "堪培拉"), ("埃及", "开罗"), ("印度", "新德里"), ("巴西", "巴西利亚")]
ELEMENTS_ZH = [("氢", "H"), ("氦", "He"), ("碳", "C"), ("氮", "N"), ("氧", "O"), ("钠", "Na"), ("铁", "Fe"),
               ("铜", "Cu"), ("金", "Au"), ("银", "Ag")]
WORDS = ["garden", "rocket", "lantern", "pencil", "harbor", "meadow", "violin", "tundra", "compass", "orchid",
         "glacier", "puzzle", "saddle", "kettle", "marble", "falcon", "ribbon", "canyon", "biscuit", "anchor",
         "level", "racecar", "noon", "radar", "window", "planet", "civic", "stone"]
ITEMS = ["notebooks", "pens", "backpacks", "erasers", "rulers"]
NAMES = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goro", "Hana", "Ivan", "Jon", "Kemi", "Luis"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
SYSTEMS = [
    "You are a concise assistant. Answer in one sentence.",
    "You are a patient math tutor. Show the calculation before the result.",
    "You are a helpful assistant for a geography quiz.",
    "You answer as a careful lab assistant who always states units.",
]


def fmt(x: float) -> str:
    """Numbers as people write them: no trailing zeros, at most two decimals."""
    text = f"{x:,.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def row(instruction: str, output: str, input: str = "", system: str | None = None,
        history: list[list[str]] | None = None) -> Row:
    out: Row = {"instruction": instruction, "input": input, "output": output}
    if system is not None:
        out["system"] = system
    if history is not None:
        out["history"] = history
    return out


# --------------------------------------------------------------------------- generators (one per task family)
def arithmetic(rng: random.Random) -> Iterator[Row]:
    for _ in range(14):
        a, b = rng.randint(10, 999), rng.randint(10, 999)
        yield rng.choice([
            row(f"What is {a} plus {b}?", f"{a} + {b} = {a + b}."),
            row("Add the two numbers.", f"The sum of {a} and {b} is {a + b}.", input=f"{a}, {b}"),
        ])
    for _ in range(10):
        a, b = rng.randint(100, 999), rng.randint(10, 99)
        yield rng.choice([
            row(f"Subtract {b} from {a}.", f"{a} - {b} = {a - b}."),
            row("Compute the difference.", f"{a} minus {b} equals {a - b}.", input=f"{a} - {b}"),
        ])
    for _ in range(10):
        a, b = rng.randint(3, 99), rng.randint(3, 99)
        yield row(f"Multiply {a} by {b}.", f"{a} × {b} = {a * b}.")
    for _ in range(8):
        a, b = rng.randint(50, 999), rng.randint(3, 12)
        q, r = divmod(a, b)
        tail = f" with remainder {r}" if r else " exactly"
        yield row(f"Divide {a} by {b} using whole numbers.", f"{a} ÷ {b} = {q}{tail}.")
    for _ in range(6):
        pct, base = rng.choice([5, 10, 12, 15, 20, 25, 40, 75]), rng.randint(2, 90) * 20
        yield row(f"What is {pct}% of {base}?", f"{pct}% of {base} is {fmt(pct * base / 100)}.")


def conversions(rng: random.Random) -> Iterator[Row]:
    for _ in range(7):
        km = rng.randint(1, 300)
        yield row(f"Convert {km} kilometres to miles.", f"{km} km is about {fmt(km / 1.609344)} miles.")
    for _ in range(6):
        miles = rng.randint(1, 200)
        yield row("Convert the distance to kilometres.", f"{miles} miles is about {fmt(miles * 1.609344)} km.",
                  input=f"{miles} miles")
    for _ in range(7):
        c = rng.randint(-30, 45)
        yield row(f"Convert {c} °C to Fahrenheit.", f"{c} °C = {fmt(c * 9 / 5 + 32)} °F (F = C × 9/5 + 32).")
    for _ in range(5):
        f = rng.randint(-10, 110)
        yield row(f"Convert {f} °F to Celsius.", f"{f} °F = {fmt((f - 32) * 5 / 9)} °C (C = (F - 32) × 5/9).")
    for _ in range(5):
        kg = rng.randint(1, 150)
        yield row(f"How many pounds are {kg} kilograms?", f"{kg} kg is about {fmt(kg * 2.20462262)} lb.")
    for _ in range(5):
        h = rng.randint(1, 48)
        yield row(f"How many minutes and seconds are in {h} hours?",
                  f"{h} hours = {h * 60} minutes = {h * 3600} seconds.")


def strings(rng: random.Random) -> Iterator[Row]:
    for _ in range(8):
        w = rng.choice(WORDS)
        yield row("Reverse the letters of the word.", f"Reversed, '{w}' becomes '{w[::-1]}'.", input=w)
    for _ in range(7):
        w = rng.choice(WORDS)
        verdict = "is a palindrome" if w == w[::-1] else "is not a palindrome"
        yield row(f"Is '{w}' a palindrome?", f"'{w}' {verdict}: reversed it reads '{w[::-1]}'.")
    for _ in range(7):
        w = rng.choice(WORDS)
        n = sum(ch in "aeiou" for ch in w)
        yield row(f"How many vowels are in the word '{w}'?", f"'{w}' has {n} vowel{'s' if n != 1 else ''}.")
    for _ in range(6):
        words = rng.sample(WORDS, rng.randint(3, 6))
        sentence = " ".join(words)
        yield row("Convert the phrase to upper case.", f"Upper case: {sentence.upper()}", input=sentence)
    for _ in range(6):
        words = rng.sample(WORDS, rng.randint(4, 9))
        sentence = "The " + " ".join(words) + " story."
        yield row("Count the words in the sentence.", f"The sentence has {len(sentence.split())} words.",
                  input=sentence)


def sorting(rng: random.Random) -> Iterator[Row]:
    for _ in range(8):
        nums = rng.sample(range(1, 500), rng.randint(4, 8))
        listed = ", ".join(map(str, nums))
        yield row("Sort these numbers in ascending order.", "Ascending: " + ", ".join(map(str, sorted(nums))) + ".",
                  input=listed)
    for _ in range(5):
        nums = rng.sample(range(1, 500), rng.randint(4, 8))
        yield row(f"Sort {', '.join(map(str, nums))} from largest to smallest.",
                  "Descending: " + ", ".join(map(str, sorted(nums, reverse=True))) + ".")
    for _ in range(7):
        words = rng.sample(WORDS, rng.randint(4, 7))
        yield row("Put the words in alphabetical order.", "Alphabetical order: " + ", ".join(sorted(words)) + ".",
                  input=", ".join(words))
    for _ in range(6):
        nums = rng.sample(range(1, 100), 5)
        s = sorted(nums)
        yield row("Find the smallest, the largest and the median of the numbers.",
                  f"Smallest {s[0]}, largest {s[-1]}, median {s[2]}.", input=" ".join(map(str, nums)))


def facts(rng: random.Random) -> Iterator[Row]:
    for name, symbol, number in rng.sample(ELEMENTS, 14):
        yield rng.choice([
            row(f"What is the chemical symbol of {name}?", f"The chemical symbol of {name} is {symbol}."),
            row(f"What is the atomic number of {name}?", f"{name.capitalize()} has atomic number {number}."),
            row("Name the element with this symbol.", f"{symbol} is the symbol of {name} (atomic number {number}).",
                input=symbol),
        ])
    for country, capital, continent in rng.sample(CAPITALS, 16):
        yield rng.choice([
            row(f"What is the capital of {country}?", f"The capital of {country} is {capital}."),
            row("Which continent is this country in?", f"{country} is in {continent}.", input=country),
            row(f"{capital} is the capital of which country?", f"{capital} is the capital of {country}."),
        ])
    for name, order, kind in PLANETS:
        yield rng.choice([
            row(f"Which planet is {ORDINALS[order]} from the Sun?", f"{name} is the {ORDINALS[order]} planet from the Sun."),
            row(f"Is {name} a rocky planet, a gas giant or an ice giant?", f"{name} is a {kind}."),
        ])
    a, b = rng.sample(ELEMENTS, 2)
    heavier = a if a[2] > b[2] else b
    yield row(f"Which has the larger atomic number, {a[0]} or {b[0]}?",
              f"{heavier[0].capitalize()} ({heavier[2]}) has the larger atomic number.")


def rewriting(rng: random.Random) -> Iterator[Row]:
    for _ in range(6):
        words = rng.sample(WORDS, 4)
        yield row("Turn the list into one CSV line.", ",".join(words), input="\n".join(words))
    for _ in range(6):
        name, age = rng.choice(NAMES), rng.randint(18, 80)
        city = rng.choice(CAPITALS)[1]
        yield row("Write the record as a JSON object with keys name, age and city.",
                  json.dumps({"name": name, "age": age, "city": city}, ensure_ascii=False),
                  input=f"name: {name}; age: {age}; city: {city}")
    for _ in range(6):
        words = rng.sample(WORDS, 3)
        snake = "_".join(words)
        camel = words[0] + "".join(w.capitalize() for w in words[1:])
        yield rng.choice([
            row("Convert the identifier from snake_case to camelCase.", f"camelCase: {camel}", input=snake),
            row("Convert the identifier from camelCase to snake_case.", f"snake_case: {snake}", input=camel),
        ])
    for _ in range(6):
        y, m, d = rng.randint(1990, 2030), rng.randint(1, 12), rng.randint(1, 28)
        yield row("Rewrite the ISO date in words.", f"{MONTHS[m - 1]} {d}, {y}", input=f"{y}-{m:02d}-{d:02d}")
    for _ in range(5):
        words = rng.sample(WORDS, rng.randint(3, 5))
        yield row("Make a bulleted list from the comma-separated items.", "\n".join(f"- {w}" for w in words),
                  input=", ".join(words))
    for _ in range(5):
        words = rng.sample(WORDS, rng.randint(3, 6))
        title = " ".join(w.capitalize() for w in words)
        yield row("Write the phrase in title case.", f"Title case: {title}", input=" ".join(words))


def word_problems(rng: random.Random) -> Iterator[Row]:
    for _ in range(5):
        a, b = rng.sample(NAMES, 2)
        have, give = rng.randint(10, 60), rng.randint(1, 9)
        yield row(f"{a} has {have} marbles and gives {give} of them to {b}. How many marbles does {a} have left?",
                  f"{a} has {have} - {give} = {have - give} marbles left.")
    for _ in range(5):
        price, qty = rng.randint(2, 40), rng.randint(2, 12)
        yield row(f"A ticket costs {price} dollars. How much do {qty} tickets cost?",
                  f"{qty} tickets cost {qty} × {price} = {qty * price} dollars.")
    for _ in range(4):
        speed, hours = rng.randint(30, 120), rng.randint(2, 9)
        yield row(f"A train travels at {speed} km/h for {hours} hours. How far does it go?",
                  f"It travels {speed} × {hours} = {speed * hours} km.")
    for _ in range(4):
        start = rng.randint(6, 20)
        length = rng.randint(1, 5)
        end = start + length
        yield row(f"A meeting starts at {start}:00 and lasts {length} hours. When does it end?",
                  f"It ends at {end % 24}:00{' the next day' if end >= 24 else ''}.")


def with_system(rng: random.Random) -> Iterator[Row]:
    for _ in range(5):
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        yield row(f"What is {a} times {b}?", f"{a} × {b} = {a * b}.", system=SYSTEMS[1])
    for country, capital, _ in rng.sample(CAPITALS, 5):
        yield row(f"Name the capital of {country}.", f"The capital of {country} is {capital}.", system=SYSTEMS[2])
    for _ in range(4):
        g = rng.randint(100, 5000)
        yield row(f"Express {g} grams in kilograms.", f"{g} g = {fmt(g / 1000)} kg.", system=SYSTEMS[3])
    for name, symbol, _ in rng.sample(ELEMENTS, 3):
        yield row(f"Give the symbol for {name}.", f"The symbol for {name} is {symbol}.", system=SYSTEMS[0])


def multi_turn(rng: random.Random) -> Iterator[Row]:
    for _ in range(6):
        a, b, c = rng.randint(2, 60), rng.randint(2, 60), rng.randint(2, 9)
        yield row(f"Now multiply that result by {c}.", f"({a} + {b}) × {c} = {a + b} × {c} = {(a + b) * c}.",
                  history=[[f"What is {a} + {b}?", f"{a} + {b} = {a + b}."]])
    for country, capital, continent in rng.sample(CAPITALS, 4):
        yield row("And which continent is it on?", f"{capital} is in {country}, which is in {continent}.",
                  history=[[f"What is the capital of {country}?", f"The capital of {country} is {capital}."]])
    for _ in range(3):
        w = rng.choice(WORDS)
        yield row("Now write it in upper case.", f"Upper case: {w[::-1].upper()}",
                  history=[["Reverse the word 'kettle'.", "Reversed, 'kettle' becomes 'elttek'."],
                           [f"Now reverse '{w}'.", f"Reversed, '{w}' becomes '{w[::-1]}'."]])


def chinese(rng: random.Random) -> Iterator[Row]:
    for _ in range(5):
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        yield row(f"计算 {a} 加 {b} 等于多少？", f"{a} 加 {b} 等于 {a + b}。")
    for _ in range(4):
        nums = rng.sample(range(1, 100), 5)
        yield row("把下面的数字从小到大排序。", "从小到大：" + ", ".join(map(str, sorted(nums))) + "。",
                  input=", ".join(map(str, nums)))
    for country, capital in rng.sample(CAPITALS_ZH, 5):
        yield row(f"{country}的首都是哪里？", f"{country}的首都是{capital}。")
    for name, symbol in rng.sample(ELEMENTS_ZH, 4):
        yield row(f"{name}的元素符号是什么？", f"{name}的元素符号是 {symbol}。")
    for _ in range(3):
        a, b = rng.randint(3, 19), rng.randint(3, 19)
        yield row(f"{a} 乘以 {b} 是多少？", f"{a} 乘以 {b} 等于 {a * b}。")
    for _ in range(3):
        km = rng.randint(2, 40)
        yield row(f"将 {km} 公里换算成米。", f"{km} 公里等于 {km * 1000} 米。", system="你是一个简洁的助手。")
    yield row("请问一周有几天？", "好的")  # too short: the notebook's filter drops it


def sales_log(rng: random.Random, days: int) -> tuple[str, dict[str, int]]:
    """A long text (about 14 words a day) and the totals per item, for the long-prompt rows."""
    totals = dict.fromkeys(ITEMS, 0)
    lines = []
    for day in range(1, days + 1):
        a, b = rng.sample(ITEMS, 2)
        na, nb = rng.randint(1, 30), rng.randint(1, 30)
        totals[a] += na
        totals[b] += nb
        who = rng.choice(NAMES)
        lines.append(f"On day {day} {who} recorded that the shop sold {na} {a} and {nb} {b}.")
    return "\n".join(lines), totals


def long_prompts(rng: random.Random) -> Iterator[Row]:
    # about 14 words per logged day: 14-22 days -> 200-399 words (bucket 1), 28-40 -> bucket 2, 44-51 ->
    # bucket 3, 64 -> over 800 words (bucket 4: a single row, which the notebook drops and split merges into 3)
    for days in (14, 15, 16, 18, 20, 22, 28, 30, 33, 40, 44, 47, 51, 64):
        log, totals = sales_log(rng, days)
        item = rng.choice([i for i in ITEMS if totals[i]])
        yield row(f"Read the sales log below and tell me how many {item} were sold in total.",
                  f"In total, {totals[item]} {item} were sold over the {days} days.", input=log)


def bad_rows(rng: random.Random) -> Iterator[Row]:
    """Rows a careful pipeline must remove (validation or the notebook's length filter)."""
    yield row("What is 2 + 2?", "4")  # a correct answer, but 1 character: the notebook's filter drops it
    yield row("Describe the colour of the sky on a clear day.", "")  # empty answer: fails validation
    yield row("Summarise the article.", "   ", input="(article text missing)")  # blank answer
    yield row("List three prime numbers.", "N/A")
    yield row("Translate 'good morning' into French.", "ok")
    yield row("Write a haiku about autumn.", "TODO")
    yield row("Explain photosynthesis briefly.", "...")
    # placeholder text left in by an annotator: long enough for the notebook's filter, caught by a blocklist
    yield row("Write a one-line product description for a kettle.", "Lorem ipsum dolor sit amet, kettle.")
    yield row("用一句话介绍长城。", "此处填写答案：长城很长。")


FAMILIES: list[Callable[[random.Random], Iterator[Row]]] = [
    arithmetic, conversions, strings, sorting, facts, rewriting, word_problems, with_system, multi_turn, chinese,
    long_prompts,
]


def build() -> list[Row]:
    """All rows, in a shuffled but fixed order."""
    rng = random.Random(SEED)
    rows = [r for family in FAMILIES for r in family(rng)]
    rows += list(bad_rows(rng))
    rows.append(dict(rows[3]))  # an exact duplicate (for exact_dedup demos; the notebook keeps both)
    rng.shuffle(rows)
    return rows


def render(rows: list[Row]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="Where to write (default: %(default)s).")
    parser.add_argument("--check", action="store_true", help="Do not write; exit 1 if --out differs.")
    args = parser.parse_args(argv)
    text = render(build())
    if args.check:
        same = args.out.is_file() and args.out.read_text(encoding="utf-8") == text
        print(f"{args.out}: {'up to date' if same else 'STALE (run make_demo_data.py)'}")
        return 0 if same else 1
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {len(text.splitlines())} rows to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
