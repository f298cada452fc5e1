"""Prose task generators for the demo set (summaries, translation, stories, labels, ideas, answers, edits)."""
from __future__ import annotations

from core import demo_text as T
from core.demo_tasks import Sample, org_name, person_name


def summarization(rng) -> Sample:
    org, city, person = org_name(rng), rng.choice(T.CITIES), person_name(rng)
    m1, m2 = rng.sample(T.MONTHS, 2)
    kind = rng.choice(["launch", "council", "study"])
    if kind == "launch":
        product, feats = rng.choice(list(T.PRODUCTS.items()))
        price, months, users, emp = rng.randint(3, 40) * 10 - 1, rng.randint(6, 30), rng.randint(2, 90) * 100, rng.randint(12, 900)
        f1, f2 = rng.sample(feats, 2)
        sents = [f"{org}, a company based in {city}, announced {product} on {m1} {rng.randint(1, 28)}.",
                 f"According to the company, the new model {f1} and {f2}.",
                 f"It will cost ${price} and go on sale in {m2}.",
                 f"Chief executive {person} said the team had spent {months} months testing it with {users:,} early customers.",
                 f"{org} employs {emp} people and plans to hire more staff in {city} next year.",
                 rng.choice(["Analysts expect strong demand before the holiday season.",
                             "Some reviewers questioned whether the price is too high for a first-generation product.",
                             "The company did not say how many units it expects to sell."])]
        one = f"{org} announced {product} that {f1}; it costs ${price} and goes on sale in {m2}."
        bullets = [f"{org} ({city}) announced {product}.", f"It {f1} and {f2}.", f"Price ${price}; on sale in {m2}."]
        title = f"{org} launches {product.split(' ', 1)[1]} priced at ${price}"
    elif kind == "council":
        project = rng.choice(["a new cycle lane along the river", "a public swimming pool", "a library extension",
                              "a park with a playground and community garden", "a tram line to the university"])
        yes, cost, y = rng.randint(6, 11), rng.randint(2, 80), rng.randint(2026, 2030)
        no = rng.randint(1, yes - 1)
        sents = [f"The {city} city council voted {yes} to {no} on Tuesday to approve {project}.",
                 f"The project will cost about {cost} million dollars, paid from the city's infrastructure fund.",
                 f"Construction is expected to start in {m1} and finish by {y}.",
                 f"Mayor {person} called the decision \"a long-awaited investment in everyday life\".",
                 rng.choice(["Some residents raised concerns about noise during construction.",
                             "Opponents argued that the money should go to road repairs instead.",
                             "Local businesses said they welcome the extra visitors the project may bring."]),
                 "A public information meeting will be held next month."]
        one = f"{city}'s council approved {project} ({cost} million dollars, vote {yes}-{no}), due to finish by {y}."
        bullets = [f"Council vote: {yes} to {no} in favour.", f"Cost: about {cost} million dollars.",
                   f"Timeline: start in {m1}, finish by {y}."]
        title = f"{city} approves {project} in {yes}-{no} vote"
    else:
        n, mo, pct = rng.randint(12, 300) * 10, rng.randint(3, 24), rng.randint(5, 40)
        act, out = rng.choice([("walked for 30 minutes a day", "fewer sleep problems"),
                               ("ate breakfast every day", "higher concentration scores"),
                               ("spent less than an hour a day on screens after 8 pm", "better sleep quality"),
                               ("practised a musical instrument weekly", "better memory test results")])
        sents = [f"Researchers at the University of {city} followed {n:,} adults for {mo} months.",
                 f"Participants who {act} reported {pct}% {out} than those who did not.",
                 "The study relied on questionnaires, so the results are self-reported.",
                 f"Lead author Dr. {person} said the link does not prove cause and effect.",
                 "The team now plans a controlled trial with a larger and more diverse group."]
        one = f"A {mo}-month study of {n:,} adults found that people who {act} reported {pct}% {out}, though causation is unproven."
        bullets = [f"{n:,} adults followed for {mo} months.", f"Those who {act}: {pct}% {out}.",
                   "Self-reported data; a controlled trial is planned."]
        title = f"Study: people who {act} report {out}"
    doc = " ".join(sents)
    style = rng.choice(["one", "bullets", "title", "tldr"])
    ask = {"one": rng.choice(["Summarize the following text in one sentence.", "Give a one-sentence summary."]),
           "bullets": rng.choice(["Summarize this article in three bullet points.", "List the three key facts."]),
           "title": "Write a short headline for this article.",
           "tldr": "TL;DR?"}[style]
    resp = {"one": one, "bullets": "\n".join(f"- {b}" for b in bullets), "title": title, "tldr": f"TL;DR: {one}"}[style]
    return Sample("summarization", [(ask, doc, resp)], "medium" if style != "title" else "easy")


def translation(rng) -> Sample:
    row = rng.choice(T.TRANSLATIONS)
    lang = rng.choice(list(T.LANG_NAMES))
    name, tgt = T.LANG_NAMES[lang], row[T.LANG_INDEX[lang]]
    r = rng.random()
    if r < 0.55:
        ex = [(rng.choice([f"Translate the following sentence into {name}.", f"How would you say this in {name}?",
                           f"Please translate to {name}:"]), row[0], tgt)]
    elif r < 0.8:
        ex = [(f"Translate this {name} sentence into English.", tgt, row[0])]
    else:
        langs = rng.sample(list(T.LANG_NAMES), 3)
        ex = [(f"Translate \"{row[0]}\" into {', '.join(T.LANG_NAMES[x] for x in langs[:-1])} and "
               f"{T.LANG_NAMES[langs[-1]]}.", "",
               "\n".join(f"{T.LANG_NAMES[x]}: {row[T.LANG_INDEX[x]]}" for x in langs))]
    if r < 0.55 and rng.random() < 0.2:
        other = rng.choice([x for x in T.LANG_NAMES if x != lang])
        ex.append((f"And in {T.LANG_NAMES[other]}?", "", row[T.LANG_INDEX[other]]))
    return Sample("translation", ex, "easy")


def creative(rng) -> Sample:
    kind = rng.choice(["haiku", "story", "story", "product"])
    if kind == "haiku":
        theme = rng.choice(list(T.HAIKU))
        fives, sevens = T.HAIKU[theme]
        a, c = rng.sample(fives, 2)
        poem = f"{a}\n{rng.choice(sevens)}\n{c.lower() if rng.random() < 0.5 else c}"
        return Sample("creative_writing", [(rng.choice(["Write a haiku about {t}.", "Compose a haiku on {t}.",
                                                        "A haiku about {t}, please."]).format(t=theme), "", poem)])
    if kind == "product":
        product, feats = rng.choice(list(T.PRODUCTS.items()))
        fs = rng.sample(feats, 3)
        body = (f"Meet the {product.split(' ', 1)[1]}, built for everyday life. It {fs[0]}, {fs[1]} and {fs[2]}. "
                + rng.choice(["Whether you are commuting or travelling, it simply works.",
                              "Designed to last, it is backed by a two-year warranty.",
                              "Small details, big difference."]))
        return Sample("creative_writing", [(f"Write a short product description for {product}.", "", body)])
    (char, short), setting, obj = rng.choice(T.CHARACTERS), rng.choice(T.SETTINGS), rng.choice(T.OBJECTS)
    S = short[0].upper() + short[1:]
    opening = rng.choice([f"Nobody in {setting} paid much attention to {char}.",
                          f"Every morning, {char} walked the same quiet path through {setting}.",
                          f"It was the coldest night of the year in {setting}, and {char} could not sleep."])
    pool = [f"One day {short} found {obj} under a loose floorboard.",
            f"{S} turned it over and over, looking for a name or a clue.",
            f"At first {short} told no one, afraid of being laughed at.",
            "The neighbours began to notice small, strange changes around them.",
            "A storm rolled in, and the lights flickered for three long nights.",
            f"An old friend arrived with a question that {short} could not answer.",
            f"{S} followed a trail of clues through narrow streets and forgotten rooms.",
            "Each clue seemed to lead back to the same closed door."]
    middle = [pool[0]] + [pool[i] for i in sorted(rng.sample(range(1, len(pool) - 1), rng.randint(2, 5)))] + [pool[-1]]
    end = f"In the end, {short} opened the door, {rng.choice(T.ENDINGS)}"
    story = "\n\n".join([opening, " ".join(middle), end])
    ask = rng.choice([f"Write a short story about {char} in {setting} who finds {obj}.",
                      f"Tell me a story featuring {char} and {obj}.",
                      f"Write a brief, whimsical tale set in {setting}."])
    return Sample("creative_writing", [(ask, "", story)], "medium")


def classification(rng) -> Sample:
    kind = rng.choice(["sentiment", "sentiment", "topic", "spam"])
    if kind == "sentiment":
        item, mood = rng.choice(T.REVIEW_ITEMS), rng.choice(["positive", "negative", "mixed"])
        p, n = rng.sample(T.REVIEW_POS, 2), rng.sample(T.REVIEW_NEG, 2)
        text = {"positive": f"This {item} {p[0]} and {p[1]}. Highly recommended!",
                "negative": f"The {item} {n[0]}, and it {n[1]}. I want a refund.",
                "mixed": f"The {item} {p[0]}, but it {n[0]}."}[mood]
        label = {"positive": "Positive", "negative": "Negative", "mixed": "Neutral"}[mood]
        ask = rng.choice(["Classify the sentiment of this review as Positive, Negative or Neutral.",
                          "What is the sentiment of the following customer review?"])
        resp = label if rng.random() < 0.6 else f"{label}. " + {
            "positive": "The reviewer praises the product.", "negative": "The reviewer reports problems and wants a refund.",
            "mixed": "The review mentions both a strength and a problem."}[mood]
        return Sample("classification", [(ask, text, resp)], extra={"label": label.lower()})
    if kind == "topic":
        topic = rng.choice(list(T.HEADLINES))
        head = rng.choice(T.HEADLINES[topic]).format(city=rng.choice(T.CITIES), org=org_name(rng))
        opts = ", ".join(sorted(T.HEADLINES))
        return Sample("classification", [(f"Which topic does this headline belong to? Options: {opts}.", head, topic)],
                      extra={"label": topic})
    spam = rng.random() < 0.5
    msg = rng.choice(T.SPAM) if spam else rng.choice(T.HAM).format(name=rng.choice(T.FIRST), month=rng.choice(T.MONTHS))
    label = "spam" if spam else "not spam"
    return Sample("classification", [("Is the following message spam or not spam?", msg, label)], extra={"label": label})


def brainstorming(rng) -> Sample:
    topic = rng.choice(list(T.BRAINSTORM))
    ideas = rng.sample(T.BRAINSTORM[topic], len(T.BRAINSTORM[topic]))
    n = rng.randint(3, 6)
    intro = rng.choice(["Here are some ideas:", "Sure, here you go:", f"{n} ideas for {topic}:", ""])
    body = "\n".join(f"{i}. {x}" for i, x in enumerate(ideas[:n], 1))
    ex = [(rng.choice(T.BRAINSTORM_ASK).format(n=n, topic=topic), "", (intro + "\n" + body).strip())]
    rest = ideas[n:]
    if len(rest) >= 2 and rng.random() < 0.25:
        m = min(len(rest), rng.randint(2, 3))
        ex.append((f"Give me {m} more.", "", "\n".join(f"{i}. {x}" for i, x in enumerate(rest[:m], n + 1))))
    return Sample("brainstorming", ex)


def open_qa(rng) -> Sample:
    if rng.random() < 0.08:  # a long answer: a study guide over several questions
        picks = rng.sample(T.QA, rng.randint(3, 7))
        ask = "Write a short study guide that answers these questions:\n" + "\n".join(f"- {q}" for q, _, _ in picks)
        return Sample("open_qa", [(ask, "", "\n\n".join(f"## {q}\n{a}" for q, _, a in picks))], "hard")
    q, short, long = rng.choice(T.QA)
    style, kind = rng.choice(T.QA_STYLE)
    ex = [(style.format(q=q), "", short if kind == "short" else long)]
    if rng.random() < 0.12:
        q2, s2, l2 = rng.choice(T.QA)
        if q2 != q:
            ex.append((f"Thanks! Another one: {q2}", "", l2))
    return Sample("open_qa", ex, "easy" if kind == "short" else "medium")


def rewriting(rng) -> Sample:
    kind = rng.choice(list(T.REWRITE_ASK))
    src, dst = rng.choice({"formal": T.FORMAL, "grammar": T.GRAMMAR, "passive": T.PASSIVE}[kind])
    resp = dst if rng.random() < 0.7 else f"Here is the revised version:\n\n{dst}"
    return Sample("rewriting", [(rng.choice(T.REWRITE_ASK[kind]), src, resp)])
