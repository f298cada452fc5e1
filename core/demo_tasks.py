"""Structured task generators for the demo set (code, math, SQL, data, tools, other languages).

Each takes a seeded ``random.Random`` and returns a Sample.

Every text is assembled from the project's own banks (core.demo_text, core.demo_code, core.demo_i18n);
answers are computed, so the math, SQL and format conversions are correct.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from core import demo_i18n as I
from core import demo_text as T
from core.demo_code import CODE_ASK, CODE_FOLLOW, CODE_TASKS, FENCE, LANGS, SQL_TABLES


@dataclass
class Sample:
    category: str
    exchanges: list  # [(instruction, input, response)], one per user turn
    difficulty: str = "easy"
    system: str = ""
    tool: dict | None = None  # tool_use only: name, arguments, result, schema
    lang: str = "en"
    extra: dict = field(default_factory=dict)


def person_name(rng) -> str:
    return f"{rng.choice(T.FIRST)} {rng.choice(T.LAST)}"


def org_name(rng) -> str:
    return f"{rng.choice(T.ORG_A)} {rng.choice(T.ORG_B)} {rng.choice(T.ORG_C)}"


def _money(x: float) -> str:
    return f"${x:,.2f}"


def coding(rng) -> Sample:
    task, lang = rng.choice(list(CODE_TASKS)), rng.choice(LANGS)
    whats, explain, complexity, codes = CODE_TASKS[task]
    ask = rng.choice(CODE_ASK).format(lang=lang, what=rng.choice(whats))
    code = codes[lang]
    parts = [rng.choice(["Here is a {lang} implementation:", "Sure! Here's one way to do it in {lang}:",
                         "You can write it like this:", ""]).format(lang=lang), f"```{FENCE[lang]}\n{code}\n```"]
    imports = [p for p in ("strings", "unicode", "strconv") if lang == "Go" and p + "." in code]
    if imports:
        parts.append("It needs " + " and ".join(f'`import "{p}"`' for p in imports) + ".")
    if rng.random() < 0.7:
        parts.append(explain)
    if rng.random() < 0.4:
        parts.append(f"Complexity: {complexity}.")
    ex = [(ask, "", "\n\n".join(p for p in parts if p))]
    if rng.random() < 0.2:
        q, a = rng.choice(CODE_FOLLOW)
        ex.append((q, "", a.format(complexity=complexity, explain=explain)))
    return Sample("coding", ex, "easy" if task in ("reverse_string", "sum_even", "factorial") else "medium",
                  extra={"programming_language": lang})


def _answer_line(rng, value: str) -> str:
    return rng.choice(["Answer: {v}", "**Answer:** {v}", "#### {v}", "So the answer is {v}."]).format(v=value)


def math(rng) -> Sample:
    kind = rng.choice(["buy", "speed", "discount", "average", "garden", "bill", "movie"])
    name = rng.choice(T.FIRST)
    follow = None
    if kind == "buy":
        item = rng.choice(["stickers", "marbles", "pencils", "trading cards", "seashells"])
        a, b, c = rng.randint(3, 60), rng.randint(2, 9), rng.randint(3, 24)
        total = a + b * c
        q = f"{name} has {a} {item}. {name} buys {b} packs with {c} {item} in each pack. How many {item} does {name} have now?"
        steps = [f"The packs hold {b} × {c} = {b * c} {item}.", f"Adding the {a} {item} {name} already had: "
                 f"{a} + {b * c} = {total}."]
        ans, diff = f"{total} {item}", "easy"
        g = rng.randint(1, max(1, total // 3))
        follow = (f"What if {name} then gives {g} of them to a friend?",
                  f"{name} would have {total} - {g} = {total - g} {item} left.")
    elif kind == "speed":
        v, t, t2 = rng.choice([40, 45, 60, 72, 80, 90, 100]), rng.randint(2, 6), rng.randint(1, 3)
        v2 = v - rng.choice([10, 20])
        q = (f"A train travels at {v} km/h for {t} hours, then slows to {v2} km/h for another {t2} hours. "
             f"How far does it travel in total?")
        steps = [f"First part: {v} × {t} = {v * t} km.", f"Second part: {v2} × {t2} = {v2 * t2} km.",
                 f"Total: {v * t} + {v2 * t2} = {v * t + v2 * t2} km."]
        ans, diff = f"{v * t + v2 * t2} km", "medium"
        follow = ("What was its average speed?", f"Average speed = total distance / total time = "
                  f"{v * t + v2 * t2} / {t + t2} = {(v * t + v2 * t2) / (t + t2):.2f} km/h.")
    elif kind == "discount":
        p, d = rng.randint(4, 60) * 5, rng.choice([10, 15, 20, 25, 30, 40, 50])
        sale = p * (100 - d) / 100
        q = f"A jacket costs {_money(p)}. It is on sale for {d}% off. What is the sale price?"
        steps = [f"The discount is {d}% of {_money(p)} = {_money(p * d / 100)}.",
                 f"Sale price: {_money(p)} - {_money(p * d / 100)} = {_money(sale)}."]
        ans, diff = _money(sale), "easy"
    elif kind == "average":
        scores = [rng.randint(55, 100) for _ in range(rng.randint(3, 6))]
        mean = sum(scores) / len(scores)
        q = f"{name} scored {', '.join(map(str, scores[:-1]))} and {scores[-1]} on {len(scores)} tests. What is the average score?"
        ans, diff = f"{mean:.2f}".rstrip("0").rstrip("."), "easy"
        steps = [f"Sum: {' + '.join(map(str, scores))} = {sum(scores)}.",
                 f"Average: {sum(scores)} / {len(scores)} = {ans}."]
    elif kind == "garden":
        w, h, cost = rng.randint(3, 25), rng.randint(3, 25), rng.choice([4, 6, 7.5, 12])
        per = 2 * (w + h)
        q = (f"A rectangular garden is {w} m long and {h} m wide. Fencing costs {_money(cost)} per metre. "
             f"What is the area of the garden, and how much does it cost to fence it?")
        steps = [f"Area = {w} × {h} = {w * h} m².", f"Perimeter = 2 × ({w} + {h}) = {per} m.",
                 f"Fence cost = {per} × {_money(cost)} = {_money(per * cost)}."]
        ans, diff = f"{w * h} m² and {_money(per * cost)}", "medium"
    elif kind == "bill":
        total, tip, n = rng.randint(40, 400), rng.choice([10, 15, 18, 20]), rng.randint(2, 8)
        with_tip = total * (100 + tip) / 100
        q = f"Dinner for {n} people costs {_money(total)}. They add a {tip}% tip and split the bill evenly. How much does each person pay?"
        steps = [f"Tip: {tip}% of {_money(total)} = {_money(total * tip / 100)}.",
                 f"Total with tip: {_money(with_tip)}.", f"Each person: {_money(with_tip)} / {n} = {_money(with_tip / n)}."]
        ans, diff = _money(with_tip / n), "medium"
    else:
        sh, sm, dh, dm = rng.randint(1, 9), rng.choice([0, 10, 15, 20, 30, 45, 50]), rng.randint(1, 3), rng.randint(5, 55)
        end = (sh * 60 + sm + dh * 60 + dm)
        q = f"A movie starts at {sh}:{sm:02d} pm and lasts {dh} hours and {dm} minutes. When does it end?"
        steps = [f"Add the hours: {sh}:{sm:02d} + {dh} h = {sh + dh}:{sm:02d}.",
                 f"Add the minutes: {sm} + {dm} = {sm + dm} minutes" + (
                     f", which is {(sm + dm) // 60} hour and {(sm + dm) % 60} minutes." if sm + dm >= 60 else ".")]
        h12 = (end // 60 - 1) % 12 + 1
        ans, diff = f"{h12}:{end % 60:02d} {'pm' if end // 60 < 12 else 'am'}", "hard"
    style = rng.random()
    if style < 0.2:
        resp = ans
    else:
        resp = "\n".join(steps + [_answer_line(rng, ans)])
    ex = [(q, "", resp) if rng.random() < 0.7 else ("Solve the following word problem.", q, resp)]
    if follow and rng.random() < 0.25:
        ex.append((follow[0], "", follow[1]))
    return Sample("math", ex, diff)










def extraction(rng) -> Sample:
    kind = rng.choice(["contact", "receipt", "email"])
    sender, org, to = person_name(rng), org_name(rng), rng.choice(T.FIRST)
    month, day, hh, mm = rng.choice(T.MONTHS), rng.randint(1, 28), rng.randint(8, 17), rng.choice([0, 15, 30, 45])
    email = f"{sender.split()[0].lower()}.{sender.split()[1].lower()}@{org.split()[1].lower()}.example.com"
    phone = f"+1-555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
    text = (f"Hi {to}, this is {sender} from {org}. Could we meet on {month} {day} at {hh}:{mm:02d}? "
            f"You can reach me at {email} or {phone}.")
    if kind == "email":
        return Sample("extraction", [("Extract the email address from this message.", text, email)])
    if kind == "contact":
        data = {"sender": sender, "organization": org, "date": f"{month} {day}", "time": f"{hh}:{mm:02d}",
                "email": email, "phone": phone}
        return Sample("extraction", [("Extract the sender, organization, meeting date, time, email and phone number "
                                      "as JSON.", text, json.dumps(data, indent=2, ensure_ascii=False))], "medium")
    items = rng.sample(["coffee", "bagel", "orange juice", "muffin", "sandwich", "salad", "tea", "cookie", "soup"],
                       rng.randint(2, 5))
    prices = [rng.randint(150, 1200) / 100 for _ in items]
    receipt = "\n".join(f"{i.upper():<14}{p:>6.2f}" for i, p in zip(items, prices))
    data = [{"item": i, "price": p} for i, p in zip(items, prices)]
    ex = [("List each item and its price from this receipt as JSON.", receipt, json.dumps(data, ensure_ascii=False))]
    if rng.random() < 0.4:
        ex.append(("What is the total?", "", f"The total is {' + '.join(f'{p:.2f}' for p in prices)} = "
                   f"{sum(prices):.2f}."))
    return Sample("extraction", ex, "medium")








def sql(rng) -> Sample:
    table, (entity, cols) = rng.choice(list(SQL_TABLES.items()))
    nums = [c for c, k in cols.items() if isinstance(k, tuple)]
    cats = [c for c, k in cols.items() if isinstance(k, list)]
    texts = [c for c, k in cols.items() if k == "text"]
    kind = rng.choice(["filter", "group", "avg", "top"] + (["join"] if table == "orders" else []))
    if kind == "filter":
        num, show = rng.choice(nums), rng.choice(texts + cats)
        lo, hi = cols[num]
        v = rng.randint(lo, hi)
        q = f"List the {show} and {num} of all {entity} whose {num} is greater than {v}, highest first."
        s = f"SELECT {show}, {num}\nFROM {table}\nWHERE {num} > {v}\nORDER BY {num} DESC;"
    elif kind == "group":
        cat = rng.choice(cats)
        q = f"Count the number of {entity} per {cat}."
        s = f"SELECT {cat}, COUNT(*) AS n\nFROM {table}\nGROUP BY {cat}\nORDER BY n DESC;"
    elif kind == "avg":
        cat, num = rng.choice(cats), rng.choice(nums)
        val = rng.choice(cols[cat])
        q = f"What is the average {num} of {entity} where {cat} is '{val}'?"
        s = f"SELECT AVG({num}) AS avg_{num}\nFROM {table}\nWHERE {cat} = '{val}';"
    elif kind == "top":
        num, n = rng.choice(nums), rng.randint(3, 10)
        q = f"Show the {n} {entity} with the highest {num}."
        s = f"SELECT *\nFROM {table}\nORDER BY {num} DESC\nLIMIT {n};"
    else:
        q = "Show the total order value per customer country, largest first."
        s = ("SELECT c.country, SUM(o.total) AS revenue\nFROM orders o\nJOIN customers c ON c.id = o.customer_id\n"
             "GROUP BY c.country\nORDER BY revenue DESC;")
    schema = f"{table}({', '.join(cols)})" + (", customers(id, name, email, country, signup_date, lifetime_value)"
                                              if kind == "join" else "")
    resp = f"```sql\n{s}\n```" if rng.random() < 0.6 else s
    return Sample("sql", [(f"{q}", f"Schema: {schema}" if rng.random() < 0.7 else "", resp)],
                  "hard" if kind == "join" else "medium" if kind in ("avg", "filter") else "easy")


def data_formatting(rng) -> Sample:
    people = [{"name": person_name(rng), "age": rng.randint(19, 80), "city": rng.choice(T.CITIES)}
              for _ in range(rng.randint(2, 5))]
    csv_text = "name,age,city\n" + "\n".join(f"{p['name']},{p['age']},{p['city']}" for p in people)
    js = json.dumps(people, indent=2)
    kind = rng.choice(["csv2json", "json2csv", "markdown", "yaml", "sort"])
    if kind == "csv2json":
        return Sample("data_formatting", [("Convert this CSV to a JSON array.", csv_text, js)])
    if kind == "json2csv":
        return Sample("data_formatting", [("Convert the following JSON to CSV with a header row.", js, csv_text)])
    if kind == "markdown":
        table = "| Name | Age | City |\n|---|---|---|\n" + "\n".join(
            f"| {p['name']} | {p['age']} | {p['city']} |" for p in people)
        return Sample("data_formatting", [("Format this data as a Markdown table.", csv_text, table)])
    if kind == "yaml":
        yml = "\n".join(f"- name: {p['name']}\n  age: {p['age']}\n  city: {p['city']}" for p in people)
        return Sample("data_formatting", [("Convert this JSON to YAML.", js, yml)], "medium")
    ordered = sorted(people, key=lambda p: (p["name"].split()[1], p["name"]))
    return Sample("data_formatting", [("Sort these people by last name and return the names, one per line.",
                                       "\n".join(p["name"] for p in people), "\n".join(p["name"] for p in ordered))])


def tool_use(rng) -> Sample:
    kind = rng.choice(["weather", "currency"])
    if kind == "weather":
        city, temp, cond = rng.choice(T.CITIES), rng.randint(-5, 34), rng.choice(["sunny", "cloudy", "light rain", "windy"])
        return Sample("tool_use", [(f"What's the weather like in {city} right now?", "",
                                    f"It is currently {temp} °C and {cond} in {city}.")], "medium",
                      tool={"name": "get_weather", "arguments": {"city": city},
                            "result": {"temp_c": temp, "condition": cond},
                            "schema": {"name": "get_weather", "description": "Current weather for a city",
                                       "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                      "required": ["city"]}}})
    amt, (src, dst, rate) = rng.randint(5, 500), rng.choice([("USD", "EUR", 0.92), ("EUR", "JPY", 161.5),
                                                            ("GBP", "USD", 1.27), ("CAD", "MXN", 12.4)])
    out = round(amt * rate, 2)
    return Sample("tool_use", [(f"How much is {amt} {src} in {dst}?", "",
                                f"{amt} {src} is about {out:,.2f} {dst} at today's rate of {rate}.")], "medium",
                  tool={"name": "convert_currency", "arguments": {"amount": amt, "from": src, "to": dst},
                        "result": {"converted": out, "rate": rate},
                        "schema": {"name": "convert_currency", "description": "Convert money between currencies",
                                   "parameters": {"type": "object", "properties": {
                                       "amount": {"type": "number"}, "from": {"type": "string"},
                                       "to": {"type": "string"}}, "required": ["amount", "from", "to"]}}})


def i18n(rng) -> Sample:
    lang = rng.choice(["zh", "es", "fr", "de"])
    name, kind = rng.choice(I.NAMES[lang]), rng.choice(["buy", "speed", "qa", "qa"])
    if kind == "buy":
        a, b, c = rng.randint(2, 30), rng.randint(2, 8), rng.randint(3, 12)
        q, r = I.MATH_BUY[lang]
        f = dict(name=name, a=a, b=b, c=c, bc=b * c, total=a + b * c)
        s = Sample("math", [(q.format(**f), "", r.format(**f))], lang=lang)
    elif kind == "speed":
        v, t = rng.choice([50, 60, 80, 90, 100, 120]), rng.randint(2, 7)
        q, r = I.MATH_SPEED[lang]
        s = Sample("math", [(q.format(v=v, t=t), "", r.format(v=v, t=t, d=v * t))], lang=lang)
    else:
        q, a = rng.choice(I.QA[lang])
        s = Sample("open_qa", [(q, "", a)], lang=lang)
    if rng.random() < 0.3:
        s.system = I.SYSTEM[lang]
    return s

