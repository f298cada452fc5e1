"""Non-English text banks for the demo generator (Chinese, Spanish, French, German), written for Sift."""
from __future__ import annotations

NAMES = {"zh": ["小明", "小红", "李华", "王芳", "张伟"], "es": ["Lucía", "Mateo", "Sofía", "Diego", "Carmen"],
         "fr": ["Camille", "Louis", "Chloé", "Hugo", "Léa"], "de": ["Lena", "Felix", "Mia", "Jonas", "Hannah"]}

# word problems: (question, answer) with {name} {a} {b} {c} {bc} {total}
MATH_BUY = {
    "zh": ("{name}有{a}个苹果，又买了{b}袋苹果，每袋{c}个。{name}现在一共有多少个苹果？",
           "新买的苹果有 {b} × {c} = {bc} 个。\n原来有 {a} 个，所以一共有 {a} + {bc} = {total} 个。\n答：{name}现在一共有{total}个苹果。"),
    "es": ("{name} tiene {a} manzanas y compra {b} bolsas con {c} manzanas cada una. ¿Cuántas manzanas tiene ahora?",
           "Primero calculamos las manzanas nuevas: {b} × {c} = {bc}.\nLuego sumamos las que ya tenía: {a} + {bc} = {total}.\n"
           "Respuesta: {name} tiene ahora {total} manzanas."),
    "fr": ("{name} a {a} pommes et achète {b} sacs de {c} pommes chacun. Combien de pommes y a-t-il maintenant en tout ?",
           "Les nouvelles pommes : {b} × {c} = {bc}.\nAvec celles que {name} avait déjà : {a} + {bc} = {total}.\n"
           "Réponse : {name} a maintenant {total} pommes."),
    "de": ("{name} hat {a} Äpfel und kauft {b} Tüten mit je {c} Äpfeln. Wie viele Äpfel hat {name} jetzt?",
           "Zuerst die neuen Äpfel: {b} × {c} = {bc}.\nDann die vorhandenen dazu: {a} + {bc} = {total}.\n"
           "Antwort: {name} hat jetzt {total} Äpfel."),
}
# {v} km/h for {t} hours -> {d} km
MATH_SPEED = {
    "zh": ("一辆汽车以每小时{v}公里的速度行驶了{t}小时。它一共行驶了多少公里？",
           "路程 = 速度 × 时间 = {v} × {t} = {d} 公里。\n答：这辆汽车一共行驶了{d}公里。"),
    "es": ("Un coche viaja a {v} km/h durante {t} horas. ¿Qué distancia recorre?",
           "La distancia es velocidad por tiempo: {v} × {t} = {d}.\nRespuesta: el coche recorre {d} kilómetros."),
    "fr": ("Une voiture roule à {v} km/h pendant {t} heures. Quelle distance parcourt-elle ?",
           "La distance est égale à la vitesse multipliée par le temps : {v} × {t} = {d}.\n"
           "Réponse : la voiture parcourt {d} kilomètres."),
    "de": ("Ein Auto fährt {t} Stunden lang mit {v} km/h. Wie weit fährt es?",
           "Die Strecke ist Geschwindigkeit mal Zeit: {v} × {t} = {d}.\nAntwort: Das Auto fährt {d} Kilometer."),
}
QA = {
    "zh": [
        ("水的沸点是多少？", "在标准大气压（海平面）下，水的沸点是100摄氏度。海拔越高，气压越低，水的沸点也会随之降低。"),
        ("为什么天空是蓝色的？", "阳光进入大气层后，波长较短的蓝光比其他颜色的光更容易被空气分子散射，这种现象叫做瑞利散射。"
                          "所以我们从各个方向看到的天空都是蓝色的。"),
        ("一年有多少天？", "平年有365天，闰年有366天。闰年一般每四年出现一次，这一年的二月会多出一天。"),
        ("如何养成早起的习惯？", "可以试试这些方法：\n1. 每天固定时间睡觉和起床；\n2. 睡前一小时不看手机；\n"
                          "3. 把闹钟放在需要下床才能关掉的地方；\n4. 起床后马上拉开窗帘，接触自然光；\n5. 循序渐进，每次提前十五分钟。"),
        ("太阳系最大的行星是哪一颗？", "太阳系最大的行星是木星。它的质量大约是其他所有行星质量总和的两倍多。"),
        ("什么是机器学习？", "机器学习是人工智能的一个分支。它让计算机从数据中自动学习规律，而不是由人逐条编写规则。"
                        "常见的应用包括垃圾邮件过滤、图像识别和推荐系统。"),
    ],
    "es": [
        ("¿Cuál es la capital de Australia?", "La capital de Australia es Canberra, no Sídney como mucha gente piensa. "
         "Canberra fue elegida como un punto intermedio entre Sídney y Melbourne."),
        ("¿Por qué es importante beber agua?", "El agua regula la temperatura del cuerpo, transporta nutrientes y ayuda a "
         "eliminar desechos. Incluso una deshidratación leve puede causar cansancio y dolor de cabeza."),
        ("¿Qué es la fotosíntesis?", "La fotosíntesis es el proceso por el cual las plantas usan la luz del sol, el agua y "
         "el dióxido de carbono para producir glucosa y liberar oxígeno."),
        ("Dame tres consejos para estudiar mejor.", "1. Estudia en bloques cortos de 25 a 30 minutos con descansos breves.\n"
         "2. Explica lo que aprendiste con tus propias palabras.\n3. Repasa el material al día siguiente y otra vez una semana después."),
        ("¿Cuántos continentes hay?", "Depende del modelo. En muchos países de habla hispana se enseñan cinco o seis "
         "continentes, mientras que en el mundo anglosajón se suelen contar siete: África, América del Norte, América "
         "del Sur, Antártida, Asia, Europa y Oceanía."),
    ],
    "fr": [
        ("Qui a écrit « Les Misérables » ?", "« Les Misérables » a été écrit par Victor Hugo et publié en 1862."),
        ("Pourquoi les feuilles changent-elles de couleur en automne ?", "En automne, les jours raccourcissent et les "
         "arbres cessent de produire de la chlorophylle, le pigment vert. Les autres pigments, jaunes et orange, "
         "deviennent alors visibles, et certains arbres fabriquent aussi des pigments rouges."),
        ("Quelle est la différence entre la météo et le climat ?", "La météo décrit l'état de l'atmosphère sur une courte "
         "période, aujourd'hui ou cette semaine. Le climat décrit les conditions moyennes d'une région sur une longue "
         "période, en général trente ans ou plus."),
        ("Donne-moi trois idées de repas rapides.", "1. Une omelette aux légumes et une salade verte.\n"
         "2. Des pâtes au pesto avec des tomates cerises.\n3. Un bol de riz avec des pois chiches, des épinards et un œuf au plat."),
        ("Combien de temps faut-il pour cuire un œuf dur ?", "Comptez environ 9 à 10 minutes dans l'eau bouillante, puis "
         "plongez l'œuf dans l'eau froide pour arrêter la cuisson et faciliter l'écalage."),
    ],
    "de": [
        ("Wie hoch ist die Zugspitze?", "Die Zugspitze ist mit 2.962 Metern der höchste Berg Deutschlands. Sie liegt im "
         "Wettersteingebirge an der Grenze zu Österreich."),
        ("Was ist der Unterschied zwischen Wetter und Klima?", "Das Wetter beschreibt den Zustand der Atmosphäre über kurze "
         "Zeit, etwa heute oder in dieser Woche. Das Klima beschreibt die durchschnittlichen Bedingungen in einer Region "
         "über einen langen Zeitraum, meist dreißig Jahre oder mehr."),
        ("Warum ist Schlaf wichtig?", "Im Schlaf erholt sich der Körper, das Gehirn verarbeitet Erlebnisse und festigt "
         "Erinnerungen, und das Immunsystem wird gestärkt. Erwachsene brauchen meist sieben bis neun Stunden pro Nacht."),
        ("Nenne drei Tipps zum Energiesparen im Haushalt.", "1. Geräte ganz ausschalten statt sie im Stand-by-Modus zu lassen.\n"
         "2. Kurz und kräftig lüften, statt die Fenster lange gekippt zu lassen.\n"
         "3. Wäsche bei niedrigerer Temperatur waschen und an der Luft trocknen."),
        ("Wofür steht die Abkürzung DNA?", "DNA steht für das englische „deoxyribonucleic acid“, auf Deutsch "
         "Desoxyribonukleinsäure (DNS). Sie trägt die Erbinformation aller bekannten Lebewesen."),
    ],
}
SYSTEM = {"zh": "你是一个乐于助人的助手，请用简洁的中文回答。", "es": "Eres un asistente útil. Responde en español.",
          "fr": "Tu es un assistant serviable. Réponds en français.", "de": "Du bist ein hilfreicher Assistent. Antworte auf Deutsch."}
