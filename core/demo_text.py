"""Text banks for the demo generator (all written for Sift; combined by core.demo_tasks)."""
from __future__ import annotations

FIRST = ["Ana", "Ben", "Chen", "Dara", "Elif", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Liam", "Maya",
         "Nikhil", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera", "Wen", "Yusuf", "Zoe"]
LAST = ["Alvarez", "Brooks", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito", "Jensen", "Kowalski",
        "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov", "Quist", "Rossi", "Silva", "Tanaka", "Weber"]
CITIES = ["Lisbon", "Nairobi", "Montreal", "Osaka", "Valencia", "Krakow", "Austin", "Bergen", "Porto", "Seoul",
          "Lyon", "Dublin", "Hanoi", "Quito", "Adelaide", "Leipzig"]
ORG_A = ["Bright", "Silver", "North", "Blue", "Quiet", "Rapid", "Green", "Open", "Iron", "Clear"]
ORG_B = ["Harbor", "Pine", "River", "Summit", "Field", "Signal", "Orbit", "Maple", "Stone", "Lantern"]
ORG_C = ["Labs", "Systems", "Foods", "Robotics", "Health", "Energy", "Analytics", "Logistics", "Studios", "Works"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]

SYSTEM_GENERIC = [
    "You are a helpful assistant.",
    "You are a helpful, honest assistant. Answer clearly and concisely.",
    "You are Sift Demo Assistant. Keep answers short and friendly.",
    "Answer the user's question accurately. If you are unsure, say so.",
]
SYSTEM_TASK = {
    "coding": "You are an experienced software engineer. Answer with idiomatic code and a brief explanation.",
    "math": "You are a patient math tutor. Show your reasoning step by step before giving the final answer.",
    "summarization": "You summarise documents faithfully. Never add facts that are not in the text.",
    "translation": "You are a professional translator. Preserve meaning and tone.",
    "creative_writing": "You are a creative writing assistant with a warm, vivid style.",
    "classification": "You are a text classifier. Reply with the label first.",
    "extraction": "You extract structured data from text and reply with valid JSON only.",
    "brainstorming": "You are an upbeat brainstorming partner. Offer varied, practical ideas.",
    "open_qa": "You are a knowledgeable assistant. Give accurate, well-explained answers.",
    "rewriting": "You are an editor. Keep the meaning, improve the wording.",
    "sql": "You are a database expert. Write standard SQL that works in PostgreSQL and DuckDB.",
    "data_formatting": "You convert data between formats exactly, without changing any values.",
    "tool_use": "You can call tools. Use them when the user asks for live information.",
}

# (question, short answer, long answer)
QA = [
    ("What is the boiling point of water at sea level?", "100 °C (212 °F).",
     "At sea level, where air pressure is about 101.3 kPa, water boils at 100 °C (212 °F). At higher altitudes the "
     "pressure is lower, so water boils at a lower temperature; in a mountain town at 2,000 m it boils at roughly 93 °C."),
    ("Why is the sky blue?", "Air molecules scatter blue sunlight more than red light (Rayleigh scattering).",
     "Sunlight contains all visible colours. When it passes through the atmosphere, the small nitrogen and oxygen "
     "molecules scatter short wavelengths (blue and violet) much more strongly than long ones (red). This is called "
     "Rayleigh scattering. Our eyes are more sensitive to blue than violet, so the scattered light that reaches us from "
     "every direction of the sky looks blue."),
    ("Who wrote Pride and Prejudice?", "Jane Austen.",
     "Pride and Prejudice was written by Jane Austen and first published in 1813. It follows Elizabeth Bennet and "
     "Fitzwilliam Darcy and is known for its wit and its portrait of the English gentry."),
    ("What is the largest planet in our solar system?", "Jupiter.",
     "Jupiter is the largest planet in the solar system. It is a gas giant with a diameter of about 140,000 km, more "
     "than eleven times that of Earth, and its mass is more than twice that of all the other planets combined."),
    ("What is the chemical symbol for gold?", "Au.",
     "The chemical symbol for gold is Au, from the Latin word aurum. Gold has atomic number 79."),
    ("What does DNA stand for?", "Deoxyribonucleic acid.",
     "DNA stands for deoxyribonucleic acid. It is the molecule that carries the genetic instructions of living "
     "organisms, built as a double helix of two strands made of the bases adenine, thymine, guanine and cytosine."),
    ("How many bones are in the adult human body?", "206.",
     "An adult human skeleton usually has 206 bones. Babies are born with around 270 bone elements, and many of them "
     "fuse together during growth."),
    ("What is the capital of Australia?", "Canberra.",
     "The capital of Australia is Canberra. It was chosen as a compromise between Sydney and Melbourne, the two "
     "largest cities, and Parliament has met there since 1927."),
    ("Why do we have seasons?", "Because Earth's axis is tilted about 23.4 degrees relative to its orbit.",
     "Seasons happen because Earth's axis is tilted by about 23.4 degrees. As Earth orbits the Sun, each hemisphere "
     "is tilted towards the Sun for part of the year, receiving more direct sunlight and longer days (summer), and "
     "away from it for another part (winter). The distance to the Sun changes only slightly and is not the cause."),
    ("What is photosynthesis?", "The process plants use to turn light, water and carbon dioxide into sugar and oxygen.",
     "Photosynthesis is the process by which plants, algae and some bacteria use energy from light to turn water and "
     "carbon dioxide into glucose, releasing oxygen as a by-product. It takes place mainly in the chloroplasts, which "
     "contain the green pigment chlorophyll."),
    ("What is the difference between weather and climate?", "Weather is short-term; climate is the long-term average.",
     "Weather describes the state of the atmosphere over hours or days: temperature, rain, wind. Climate is the average "
     "pattern of weather in a region over a long period, usually thirty years or more. A cold week is weather; a "
     "region's typical winters are climate."),
    ("How much of Earth's surface is covered by water?", "About 71 percent.",
     "About 71 percent of Earth's surface is covered by water, almost all of it in the oceans. Only around 3 percent "
     "of Earth's water is fresh water, and most of that is frozen in ice sheets and glaciers."),
    ("Why is water called the universal solvent?", "Its polar molecules dissolve more substances than any other liquid.",
     "Water is called the universal solvent because it dissolves more substances than any other common liquid. Its "
     "molecules are polar: the oxygen end is slightly negative and the hydrogen ends slightly positive, so water can "
     "surround and pull apart ions and other polar molecules such as salts and sugars."),
    ("What is the tallest mountain on Earth?", "Mount Everest, about 8,849 m above sea level.",
     "Measured from sea level, the tallest mountain is Mount Everest in the Himalayas, at about 8,849 metres. Measured "
     "from base to peak, Mauna Kea in Hawaii is taller, because most of it lies below the ocean surface."),
    ("What causes ocean tides?", "Mainly the Moon's gravity, with a smaller effect from the Sun.",
     "Tides are caused mainly by the Moon's gravity pulling on Earth's oceans, with a smaller contribution from the "
     "Sun. The pull creates two bulges of water, one facing the Moon and one on the opposite side, and as Earth rotates "
     "most coasts pass through both bulges, giving two high tides a day."),
    ("What is a prime number?", "A whole number greater than 1 whose only divisors are 1 and itself.",
     "A prime number is a whole number greater than 1 that can only be divided evenly by 1 and by itself. The first "
     "primes are 2, 3, 5, 7, 11 and 13. Every whole number above 1 can be written as a product of primes in exactly "
     "one way, which is why primes are called the building blocks of arithmetic."),
    ("What language is spoken in Brazil?", "Portuguese.",
     "The official and most widely spoken language of Brazil is Portuguese, a legacy of Portuguese colonisation. "
     "Brazil is the country with the largest number of Portuguese speakers in the world."),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci.",
     "The Mona Lisa was painted by Leonardo da Vinci in the early sixteenth century. It hangs in the Louvre in Paris."),
    ("What is the main gas in Earth's atmosphere?", "Nitrogen, about 78 percent.",
     "Nitrogen makes up about 78 percent of Earth's atmosphere by volume. Oxygen is about 21 percent, and argon, "
     "carbon dioxide and other gases make up the remaining one percent."),
    ("What is an API?", "An interface that lets one program use another program's functions or data.",
     "An API (application programming interface) is a defined set of requests a program can make to another program, "
     "library or service, together with the responses it gets back. A weather service, for example, can offer an API "
     "that returns today's forecast for a city as JSON, so other apps can use it without knowing how it works inside."),
    ("What is the difference between a list and a tuple in Python?", "Lists are mutable; tuples are immutable.",
     "Both hold ordered sequences of items. A list is mutable: you can append, remove or change items. A tuple is "
     "immutable: once created it cannot change, which makes it hashable (usable as a dictionary key when its items are "
     "hashable) and a good fit for fixed records such as coordinates."),
    ("What is inflation?", "A general rise in prices that reduces what money can buy.",
     "Inflation is the rate at which the general level of prices rises over time, so each unit of money buys less. "
     "Central banks usually aim for low, stable inflation, around 2 percent a year in many countries, and raise "
     "interest rates when it runs too high."),
    ("How does a vaccine work?", "It trains the immune system to recognise a germ without causing the disease.",
     "A vaccine exposes the immune system to a harmless piece or weakened form of a germ, or to instructions for "
     "making one of its proteins. The body produces antibodies and memory cells in response, so if the real germ "
     "appears later, the immune system recognises it and responds quickly."),
    ("What is machine learning?", "A way for computers to learn patterns from data instead of following fixed rules.",
     "Machine learning is a branch of artificial intelligence in which computers learn patterns from examples rather "
     "than being programmed with explicit rules. A spam filter, for instance, learns from thousands of labelled emails "
     "which words and features tend to indicate spam."),
    ("What is the freezing point of water in Fahrenheit?", "32 °F.",
     "Pure water freezes at 32 °F, which is 0 °C. Dissolved salt lowers the freezing point, which is why salt is "
     "spread on icy roads."),
    ("What is the largest ocean?", "The Pacific Ocean.",
     "The Pacific is the largest and deepest ocean. It covers about 165 million square kilometres, more than all of "
     "Earth's land area combined, and contains the Mariana Trench."),
    ("What is the Pythagorean theorem?", "In a right triangle, a^2 + b^2 = c^2, where c is the hypotenuse.",
     "The Pythagorean theorem says that in a right triangle the square of the hypotenuse equals the sum of the squares "
     "of the other two sides: a^2 + b^2 = c^2. For example, a triangle with sides 3 and 4 has a hypotenuse of 5, "
     "because 9 + 16 = 25."),
    ("How many players does a football (soccer) team have on the field?", "Eleven, including the goalkeeper.",
     "Each football (soccer) team has eleven players on the field, one of whom is the goalkeeper. Teams can make a "
     "limited number of substitutions during a match."),
    ("What is HTTP?", "The protocol browsers and servers use to exchange web pages and data.",
     "HTTP (Hypertext Transfer Protocol) is the request-response protocol of the web. A client such as a browser sends "
     "a request (for example GET /index.html) and the server answers with a status code, headers and a body. HTTPS is "
     "the same protocol carried over an encrypted TLS connection."),
]
QA_STYLE = [("{q}", "long"), ("{q} Answer in one sentence.", "short"), ("Quick question: {q}", "short"),
            ("Can you explain this? {q}", "long"), ("{q} Please keep it brief.", "short")]

# parallel sentences: en, es, fr, de, zh
TRANSLATIONS = [
    ("The library opens at nine o'clock in the morning.", "La biblioteca abre a las nueve de la mañana.",
     "La bibliothèque ouvre à neuf heures du matin.", "Die Bibliothek öffnet um neun Uhr morgens.", "图书馆早上九点开门。"),
    ("Could you please send me the report by Friday?", "¿Podrías enviarme el informe antes del viernes, por favor?",
     "Pourriez-vous m'envoyer le rapport d'ici vendredi, s'il vous plaît ?",
     "Könnten Sie mir den Bericht bitte bis Freitag schicken?", "请你在星期五之前把报告发给我，好吗？"),
    ("It has been raining all week, so the river is very high.",
     "Ha llovido toda la semana, así que el río está muy alto.", "Il a plu toute la semaine, donc la rivière est très haute.",
     "Es hat die ganze Woche geregnet, deshalb führt der Fluss viel Wasser.", "这一周一直在下雨，所以河水涨得很高。"),
    ("My brother works as a nurse at the city hospital.", "Mi hermano trabaja como enfermero en el hospital de la ciudad.",
     "Mon frère travaille comme infirmier à l'hôpital de la ville.",
     "Mein Bruder arbeitet als Krankenpfleger im städtischen Krankenhaus.", "我哥哥在市医院当护士。"),
    ("We need to buy bread, milk and a dozen eggs.", "Necesitamos comprar pan, leche y una docena de huevos.",
     "Nous devons acheter du pain, du lait et une douzaine d'œufs.", "Wir müssen Brot, Milch und ein Dutzend Eier kaufen.",
     "我们需要买面包、牛奶和一打鸡蛋。"),
    ("The train to the airport leaves every twenty minutes.", "El tren al aeropuerto sale cada veinte minutos.",
     "Le train pour l'aéroport part toutes les vingt minutes.", "Der Zug zum Flughafen fährt alle zwanzig Minuten.",
     "去机场的火车每二十分钟一班。"),
    ("Thank you for your help; I really appreciate it.", "Gracias por tu ayuda; te lo agradezco mucho.",
     "Merci pour ton aide ; je l'apprécie vraiment.", "Danke für deine Hilfe, ich weiß das sehr zu schätzen.",
     "谢谢你的帮助，我真的很感激。"),
    ("The meeting has been moved to Tuesday afternoon.", "La reunión se ha cambiado al martes por la tarde.",
     "La réunion a été déplacée à mardi après-midi.", "Das Meeting wurde auf Dienstagnachmittag verschoben.",
     "会议改到了星期二下午。"),
    ("Please turn off the lights when you leave the room.", "Por favor, apaga las luces cuando salgas de la habitación.",
     "Merci d'éteindre la lumière en quittant la pièce.", "Bitte schalte das Licht aus, wenn du den Raum verlässt.",
     "离开房间时请关灯。"),
    ("Learning a new language takes time and patience.", "Aprender un idioma nuevo requiere tiempo y paciencia.",
     "Apprendre une nouvelle langue demande du temps et de la patience.",
     "Eine neue Sprache zu lernen braucht Zeit und Geduld.", "学习一门新语言需要时间和耐心。"),
    ("The museum is closed on Mondays.", "El museo está cerrado los lunes.", "Le musée est fermé le lundi.",
     "Das Museum ist montags geschlossen.", "博物馆星期一闭馆。"),
    ("Drink plenty of water when it is hot outside.", "Bebe mucha agua cuando hace calor.",
     "Buvez beaucoup d'eau quand il fait chaud.", "Trink viel Wasser, wenn es draußen heiß ist.", "天气热的时候要多喝水。"),
    ("Our team finished the project two days early.",
     "Nuestro equipo terminó el proyecto dos días antes de lo previsto.",
     "Notre équipe a terminé le projet avec deux jours d'avance.",
     "Unser Team hat das Projekt zwei Tage früher abgeschlossen.", "我们团队提前两天完成了项目。"),
    ("Where is the nearest pharmacy?", "¿Dónde está la farmacia más cercana?", "Où est la pharmacie la plus proche ?",
     "Wo ist die nächste Apotheke?", "最近的药店在哪里？"),
    ("I would like a table for four people, please.", "Quisiera una mesa para cuatro personas, por favor.",
     "Je voudrais une table pour quatre personnes, s'il vous plaît.", "Ich hätte gern einen Tisch für vier Personen, bitte.",
     "请给我们一张四个人的桌子。"),
    ("The software update fixes several security problems.",
     "La actualización del software corrige varios problemas de seguridad.",
     "La mise à jour du logiciel corrige plusieurs problèmes de sécurité.",
     "Das Software-Update behebt mehrere Sicherheitsprobleme.", "这次软件更新修复了几个安全问题。"),
    ("Children learn best when they are curious.", "Los niños aprenden mejor cuando sienten curiosidad.",
     "Les enfants apprennent mieux lorsqu'ils sont curieux.", "Kinder lernen am besten, wenn sie neugierig sind.",
     "孩子们在好奇的时候学得最好。"),
    ("The price of vegetables went up this month.", "El precio de las verduras subió este mes.",
     "Le prix des légumes a augmenté ce mois-ci.", "Die Gemüsepreise sind diesen Monat gestiegen.", "这个月蔬菜的价格上涨了。"),
    ("She walks her dog in the park every evening.", "Ella pasea a su perro por el parque todas las tardes.",
     "Elle promène son chien dans le parc tous les soirs.", "Sie geht jeden Abend mit ihrem Hund im Park spazieren.",
     "她每天晚上在公园里遛狗。"),
    ("Please save your work before closing the program.", "Por favor, guarda tu trabajo antes de cerrar el programa.",
     "Veuillez enregistrer votre travail avant de fermer le programme.",
     "Bitte speichere deine Arbeit, bevor du das Programm schließt.", "关闭程序之前请先保存你的工作。"),
]
LANG_NAMES = {"es": "Spanish", "fr": "French", "de": "German", "zh": "Chinese"}
LANG_INDEX = {"en": 0, "es": 1, "fr": 2, "de": 3, "zh": 4}

# (informal, formal)
FORMAL = [
    ("hey, can u send me the file asap?", "Hello, could you please send me the file at your earliest convenience?"),
    ("we gotta push the meeting, something came up.", "We need to postpone the meeting because something unexpected has come up."),
    ("thx for the help yesterday, u saved me!", "Thank you for your help yesterday; it made a real difference."),
    ("the app keeps crashing, pls fix it.", "The application crashes repeatedly. Could you please look into it?"),
    ("can't make it today, sorry!!", "I apologise, but I will not be able to attend today."),
    ("gonna be late, traffic is nuts.", "I will be slightly late because of heavy traffic."),
    ("the numbers look kinda off to me.", "The figures appear to be inaccurate."),
    ("lemme know if u need anything else.", "Please let me know if you need anything further."),
    ("your order's on its way, should be there tmrw.", "Your order has been dispatched and should arrive tomorrow."),
    ("we're out of coffee again, someone grab some?", "We have run out of coffee again. Could someone please buy more?"),
]
# (with errors, corrected)
GRAMMAR = [
    ("She don't like going to the gym in the morning.", "She doesn't like going to the gym in the morning."),
    ("Their going to the concert tomorrow night.", "They're going to the concert tomorrow night."),
    ("Me and him went to the store.", "He and I went to the store."),
    ("The team have finished there work early.", "The team has finished its work early."),
    ("I could of helped you if you asked.", "I could have helped you if you had asked."),
    ("Each of the students have a laptop.", "Each of the students has a laptop."),
    ("Its a beautiful day, lets go outside.", "It's a beautiful day; let's go outside."),
    ("He runned five kilometres yesterday.", "He ran five kilometres yesterday."),
    ("There is many reasons to learn programming.", "There are many reasons to learn programming."),
    ("The report was wrote by our new analyst.", "The report was written by our new analyst."),
]
# (active, passive)
PASSIVE = [
    ("The chef prepared a delicious meal.", "A delicious meal was prepared by the chef."),
    ("The committee approved the new budget.", "The new budget was approved by the committee."),
    ("Engineers will repair the bridge next month.", "The bridge will be repaired by engineers next month."),
    ("The storm damaged several houses.", "Several houses were damaged by the storm."),
    ("Our team has released a new version.", "A new version has been released by our team."),
    ("The teacher grades the exams every Friday.", "The exams are graded by the teacher every Friday."),
]
REWRITE_ASK = {
    "formal": ["Rewrite this message in a formal tone.", "Make the following text sound professional.",
               "Turn this casual note into a polite, formal sentence."],
    "grammar": ["Correct the grammar in this sentence.", "Fix any grammatical mistakes.",
                "Proofread the sentence below and return the corrected version."],
    "passive": ["Rewrite the sentence in the passive voice.", "Convert this sentence from active to passive voice."],
}

BRAINSTORM = {
    "ways to save water at home": [
        "Fix dripping taps and leaking toilets quickly.", "Take shorter showers and fit a low-flow shower head.",
        "Run the dishwasher and washing machine only with full loads.", "Collect rainwater for the garden.",
        "Water plants in the early morning or evening to reduce evaporation.",
        "Turn off the tap while brushing your teeth.", "Reuse the water from rinsing vegetables on houseplants.",
        "Choose drought-tolerant plants for the garden.", "Keep a jug of drinking water in the fridge instead of running the tap until it is cold."],
    "team-building activities for a remote team": [
        "A weekly fifteen-minute coffee chat in random pairs.", "An online escape room.", "A shared playlist everyone adds to.",
        "Show-and-tell of a hobby or a desk plant.", "A monthly virtual quiz with mixed teams.",
        "A cooking session where everyone makes the same simple recipe.", "A photo challenge with a weekly theme.",
        "Lightning talks about something non-work.", "A gratitude channel for thanking colleagues."],
    "names for a neighbourhood coffee shop": [
        "The Daily Grind", "Corner Crema", "Bean There", "Steam & Story", "The Slow Pour", "Common Ground",
        "Morning Harbor", "Kettle & Key", "Second Cup Society", "The Roasted Leaf"],
    "weekend projects for beginner programmers": [
        "A command-line to-do list.", "A personal budget tracker that reads a CSV file.",
        "A weather dashboard using a free public API.", "A random quote generator for the terminal.",
        "A simple blog built with a static site generator.", "A script that renames photos by the date they were taken.",
        "A flash-card app for learning vocabulary.", "A Markdown note search tool.", "A text-based adventure game."],
    "ways to reduce plastic waste": [
        "Carry a reusable water bottle and coffee cup.", "Bring cloth bags when shopping.",
        "Buy loose fruit and vegetables instead of pre-packed ones.", "Choose bar soap and shampoo bars.",
        "Store leftovers in glass containers.", "Refill cleaning products at a refill shop.",
        "Say no to plastic cutlery with takeaway food.", "Buy staples like rice and pasta in bulk."],
    "birthday gifts for someone who loves gardening": [
        "A good pair of pruning shears.", "Heirloom seed packets.", "A kneeling pad and gloves.",
        "A subscription to a gardening magazine.", "A rain gauge.", "A set of terracotta pots.",
        "A compost bin for the kitchen.", "A field guide to local birds and insects."],
    "topics for a blog about personal finance": [
        "How to build a first emergency fund.", "The 50/30/20 budget explained.", "Index funds for beginners.",
        "How to negotiate a raise.", "Paying off debt: avalanche vs snowball.", "Saving on groceries without coupons.",
        "What a credit score really measures.", "Planning for irregular expenses.", "Money conversations for couples."],
    "ways to make a small apartment feel bigger": [
        "Use mirrors to reflect light.", "Choose furniture with legs so the floor shows.", "Paint the walls a light colour.",
        "Use vertical shelving.", "Keep surfaces clear of clutter.", "Pick a bed with storage underneath.",
        "Hang curtains close to the ceiling.", "Use one large rug instead of several small ones."],
}
BRAINSTORM_ASK = ["Give me {n} ideas for {topic}.", "Brainstorm {n} {topic}.", "List {n} {topic}.",
                  "I need some inspiration: what are {n} good {topic}?"]

HAIKU = {
    "the ocean": (["Salt wind on the dunes", "Grey waves fold and break", "A gull circles low"],
                  ["The tide pulls the shells back out to sea", "Foam writes a message no one can read",
                   "Boats rock gently at the harbour wall"]),
    "autumn": (["Red leaves drift and fall", "Cold mist on the field", "Apples in a bowl"],
               ["The old oak lets go of its last gold", "Geese call as they cross the fading sky",
                "Smoke curls from a chimney in the lane"]),
    "a busy city": (["Sirens fade away", "Neon on wet streets", "Trains hum underground"],
                    ["A thousand windows glow at once at dusk", "Footsteps hurry past the bakery door",
                     "Pigeons own the square until the dawn"]),
    "coffee": (["Steam from a warm cup", "Dark beans, fresh and sweet", "First sip, eyes still closed"],
               ["The kitchen wakes before the rest of us", "A quiet hour before the phone begins",
                "The mug leaves a ring on yesterday's notes"]),
    "rain": (["Rain taps on the glass", "Puddles hold the sky", "Umbrellas bloom bright"],
             ["The gutters sing a song of overflow", "Children jump in every silver pool",
              "The garden drinks until the clouds are gone"]),
    "debugging code": (["One missing comma", "The test turns to green", "Logs scroll through the night"],
                       ["I read the same line forty times again", "The bug was hiding in the obvious place",
                        "A cup of tea, a breakpoint, and some hope"]),
}
CHARACTERS = [("a retired lighthouse keeper", "the keeper"), ("a nervous young chef", "the chef"),
              ("a robot that repairs bicycles", "the robot"), ("a girl who collects lost keys", "the girl"),
              ("an astronomer who is afraid of the dark", "the astronomer"), ("a talking cat named Biscuit", "Biscuit"),
              ("a postman on his last day of work", "the postman"), ("a baker who never sleeps", "the baker")]
SETTINGS = ["a village at the edge of a frozen lake", "a night market in a rainy city",
            "a space station orbiting Neptune", "an old library with a secret floor", "a train stuck in the desert",
            "a mountain hut during a storm"]
OBJECTS = ["a map with one city missing", "a pocket watch that runs backwards", "a letter addressed to the future",
           "a seed that glows at night", "a violin with no strings", "a photograph of a stranger"]
ENDINGS = ["and by morning everyone in town knew the truth.", "and decided that some doors are better left open.",
           "and finally understood what home meant.", "and laughed for the first time in years.",
           "and the missing piece had been there all along."]
PRODUCTS = {
    "a stainless steel water bottle": ["keeps drinks cold for 24 hours", "is leak-proof", "fits in car cup holders",
                                       "is free of BPA"],
    "a pair of noise-cancelling headphones": ["offers 30 hours of battery life", "folds flat for travel",
                                              "has a quick-charge mode", "includes a transparency mode"],
    "a foldable electric bike": ["folds in under 20 seconds", "has a range of 60 km", "weighs only 17 kg",
                                 "includes integrated lights"],
    "a smart plant pot": ["measures soil moisture", "sends a reminder when the plant needs water",
                          "has a built-in grow light", "works with most phone assistants"],
}

REVIEW_POS = ["works perfectly", "exceeded my expectations", "is worth every penny", "arrived early and well packed",
              "is easy to set up", "feels really well made"]
REVIEW_NEG = ["stopped working after a week", "is much smaller than it looks in the photos", "arrived damaged",
              "is hard to clean", "makes a loud rattling noise", "came without the promised charger"]
REVIEW_ITEMS = ["blender", "desk lamp", "backpack", "phone case", "kettle", "keyboard", "tent", "office chair"]
HEADLINES = {
    "sports": ["{city} United wins the cup after a dramatic penalty shoot-out",
               "Marathon record falls in {city} as runners enjoy cool weather",
               "Young striker signs five-year contract with {city} club"],
    "technology": ["{org} unveils a phone battery that charges in five minutes",
                   "New open-source database promises faster analytics",
                   "{org} fixes a security flaw affecting millions of routers"],
    "business": ["{org} reports a 12 percent rise in quarterly revenue",
                 "Shares of {org} fall after the chief executive resigns",
                 "Small businesses in {city} face higher rents this year"],
    "science": ["Astronomers detect water vapour on a distant exoplanet",
                "Researchers in {city} map the genome of a rare orchid",
                "Ancient footprints found on a beach near {city}"],
    "health": ["Study links regular walking to better sleep",
               "{city} hospitals cut waiting times with a new triage system",
               "Doctors recommend more fibre for heart health"],
}
SPAM = ["Congratulations! You have won a $1,000 gift card. Click the link within 24 hours to claim your prize.",
        "URGENT: your account will be suspended. Confirm your password at the link below immediately.",
        "Make $5,000 a week from home with this one simple trick. Limited spots available!",
        "You have been selected for an exclusive offer. Reply with your bank details to receive your reward."]
HAM = ["Hi {name}, the slides for Thursday's review are in the shared folder. Let me know if anything is missing.",
       "Reminder: the dentist appointment is on {month} 14 at 10:30. Reply C to confirm.",
       "Hey {name}, are we still on for lunch tomorrow? I can book a table for noon.",
       "Your library book is due back on {month} 3. You can renew it online."]
