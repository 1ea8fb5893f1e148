"""Phrasing tables for the synthetic data: slot values, Chinese terms, Q&A, glue phrases.

Kept apart from the generator so new paraphrases or languages are data edits, not code edits.
"""
from __future__ import annotations

# --------------------------------------------------------------------------- slot values

WEATHER_CITIES = {
    "en": ("Paris", "London", "Tokyo", "New York", "Sydney", "Berlin", "Toronto", "Singapore",
           "Cairo", "Rome", "Madrid", "Seoul", "Mumbai", "Chicago", "Dubai", "Bangkok",
           "Istanbul", "Mexico City", "Cape Town", "Vancouver", "Amsterdam", "Lisbon"),
    "zh": ("北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "西安", "南京", "重庆",
           "天津", "苏州", "哈尔滨", "昆明", "厦门", "青岛", "拉萨", "长沙", "东京", "伦敦"),
}

# Chinese wording of values the tools take or return in English. A zh user says the Chinese term
# and the call carries the tool's own value, so the model learns that mapping.
ZH_TERMS = {
    # units
    "meters": "米", "kilometers": "公里", "centimeters": "厘米", "miles": "英里", "feet": "英尺",
    "inches": "英寸", "kilograms": "公斤", "grams": "克", "pounds": "磅", "ounces": "盎司",
    "liters": "升", "milliliters": "毫升", "gallons": "加仑", "celsius": "摄氏度",
    "fahrenheit": "华氏度", "kelvin": "开尔文",
    # currencies
    "USD": "美元", "EUR": "欧元", "CNY": "人民币", "JPY": "日元", "GBP": "英镑", "HKD": "港币",
    "KRW": "韩元", "AUD": "澳元", "CAD": "加元",
    # languages
    "English": "英语", "Chinese": "中文", "French": "法语", "Spanish": "西班牙语", "Japanese": "日语",
    # weather
    "sunny": "晴", "partly cloudy": "晴间多云", "cloudy": "多云", "light rain": "小雨",
    "heavy rain": "大雨", "thunderstorms": "雷阵雨", "snow": "下雪", "windy": "有风", "foggy": "有雾",
    # weekdays
    "Monday": "星期一", "Tuesday": "星期二", "Wednesday": "星期三", "Thursday": "星期四",
    "Friday": "星期五", "Saturday": "星期六", "Sunday": "星期日",
    # BMI categories, product categories, priorities
    "underweight": "偏瘦", "normal": "正常", "overweight": "超重", "obese": "肥胖",
    "electronics": "电子产品", "home": "家居", "sports": "运动", "books": "图书", "clothing": "服装",
    "low": "低", "high": "高",
}
# "normal" is both a BMI category and a priority; as a priority Chinese says 普通.
ZH_PRIORITY = {"low": "低", "normal": "普通", "high": "高"}

WORD_COUNT_TEXTS = {
    "en": ("The quick brown fox jumps over the lazy dog.",
           "Machine learning is fun. It is also a lot of work!",
           "Please remember to bring your passport and your ticket.",
           "Small models can learn to call tools with the right data.",
           "It was a bright cold day in April, and the clocks were striking thirteen.",
           "Coffee first. Then emails. Then the real work begins.",
           "To be or not to be, that is the question."),
    "zh": ("今天天气很好，我们去公园散步吧。", "学而时习之，不亦说乎？",
           "小模型也可以学会调用工具。", "明天上午九点开会，请准时参加。",
           "春眠不觉晓，处处闻啼鸟。", "这家餐厅的菜很好吃，价格也不贵。"),
}

EVENT_TITLES = {
    "en": ("Team meeting", "Dentist appointment", "Lunch with Sarah", "Project review",
           "Yoga class", "Call with the bank", "Birthday party", "Code review"),
    "zh": ("团队周会", "看牙医", "和妈妈吃饭", "项目评审", "瑜伽课", "面试", "读书会", "客户电话会议"),
}
EVENT_LOCATIONS = {
    "en": ("Room 301", "the office", "Central Park", "the cafe downstairs", "Zoom"),
    "zh": ("301会议室", "公司", "人民公园", "楼下咖啡馆", "腾讯会议"),
}
REMINDER_TEXTS = {
    "en": ("call mom", "take out the trash", "submit the report", "water the plants",
           "check the oven", "stretch", "pick up the kids", "take my medicine"),
    "zh": ("给妈妈打电话", "倒垃圾", "交报告", "给花浇水", "关烤箱", "起来活动一下", "接孩子", "吃药"),
}
PRODUCT_QUERIES = {
    "en": ("headphones", "laptop", "phone case", "smart watch", "coffee maker", "desk lamp",
           "air purifier", "kettle", "running shoes", "yoga mat", "basketball", "tennis racket",
           "novel", "cookbook", "rain jacket", "sweater", "backpack"),
    "zh": ("耳机", "笔记本电脑", "手机壳", "智能手表", "咖啡机", "台灯", "空气净化器", "电热水壶",
           "跑鞋", "瑜伽垫", "篮球", "网球拍", "小说", "菜谱", "雨衣", "羊毛衫", "双肩包"),
}
EVENT_TIMES = ("08:30", "09:00", "09:30", "10:00", "11:15", "12:00", "13:30", "14:00", "15:45",
               "16:00", "18:30", "19:00", "20:00")

# --------------------------------------------------------------------------- glue phrases

SYSTEM_PROMPTS = {
    "en": ("You are a helpful assistant.",
           "You are a helpful assistant with access to tools. Call a tool when it helps answer "
           "the user; otherwise answer directly.",
           "You are a friendly assistant. Use the available functions when needed.",
           "You are an assistant that can call functions. If a required detail is missing, ask "
           "the user for it before calling a function."),
    "zh": ("你是一个乐于助人的助手。",
           "你是一个可以调用工具的智能助手。需要时调用工具，否则直接回答用户。",
           "你是一个友好的AI助手，可以使用提供的函数来帮助用户。",
           "你是一个会调用函数的助手。如果缺少必要信息，请先向用户询问。"),
}

# Two requests in one message; {a} and {b} are whole sentences.
PARALLEL_JOIN = {
    "en": ("{a} Also: {b}", "{a} And one more thing: {b}", "Two questions. First: {a} Second: {b}",
           "{a} {b}"),
    "zh": ("{a}另外，{b}", "两个问题：一、{a} 二、{b}", "{a}还有，{b}", "{a}{b}"),
}
PARALLEL_ANSWER = {
    "en": ("{a} {b}", "Here's what I found. {a} {b}", "First: {a} Second: {b}"),
    "zh": ("{a}{b}", "查询结果如下：{a}{b}", "{a}另外，{b}"),
}
# Before a follow-up request that brings up something new.
FOLLOWUP_PREFIX = {
    "en": ("Thanks! ", "Great. ", "OK, next question. ", "Perfect. ", ""),
    "zh": ("谢谢！", "好的。", "明白了。", "太好了。", ""),
}
# The user's reply that supplies a missing argument, when the scenario has no wording of its own.
SUPPLY = {
    "en": ("{value}.", "{value}, please.", "Oh, sorry: {value}.", "It's {value}."),
    "zh": ("{value}。", "{value}吧。", "是{value}。", "不好意思，是{value}。"),
}
# Answer when the user asks what the assistant can do (a no-tool row built from the offered tools).
CAPABILITY_Q = {
    "en": ("What can you do?", "What can you help me with?", "Which tools do you have?"),
    "zh": ("你能做什么？", "你可以帮我做哪些事情？", "你有哪些工具可以用？"),
}
CAPABILITY_A = {
    "en": "I can help with these: {items}. Just tell me what you need.",
    "zh": "我可以使用这些工具：{items}。请告诉我您需要什么。",
}

# --------------------------------------------------------------------------- direct answers

QA = {
    "en": (
        ("What's the capital of France?", "The capital of France is Paris."),
        ("Who wrote Romeo and Juliet?", "William Shakespeare wrote Romeo and Juliet."),
        ("How many continents are there?", "There are seven continents: Africa, Antarctica, Asia, "
         "Australia (Oceania), Europe, North America and South America."),
        ("What is photosynthesis?", "Photosynthesis is how plants turn sunlight, water and carbon "
         "dioxide into sugar and oxygen."),
        ("Hi there!", "Hello! How can I help you today?"),
        ("Good morning!", "Good morning! What can I do for you?"),
        ("Thanks for your help!", "You're welcome! Let me know if there's anything else I can do."),
        ("Tell me a joke.", "Why don't scientists trust atoms? Because they make up everything!"),
        ("At what temperature does water boil?", "At sea level, water boils at 100 °C (212 °F)."),
        ("Who painted the Mona Lisa?", "Leonardo da Vinci painted the Mona Lisa."),
        ("What's the largest planet in our solar system?", "Jupiter is the largest planet in our "
         "solar system."),
        ("How many legs does a spider have?", "Spiders have eight legs."),
        ("What does CPU stand for?", "CPU stands for Central Processing Unit."),
        ("Any tips for sleeping better?", "Go to bed and wake up at the same time every day, keep "
         "the bedroom dark and cool, and avoid screens for an hour before bed."),
        ("What's the difference between weather and climate?", "Weather is the state of the "
         "atmosphere at a given moment; climate is the average weather of a place over many years."),
        ("Write a haiku about autumn.", "Crisp leaves drift and fall,\nthe maple lets go of red,\n"
         "cool wind hums goodbye."),
        ("Who was the first person to walk on the Moon?", "Neil Armstrong, on 20 July 1969."),
        ("What's the chemical symbol for gold?", "The chemical symbol for gold is Au."),
        ("Why is the sky blue?", "Air molecules scatter blue sunlight much more than red light, "
         "so the sky looks blue."),
        ("What is a prime number?", "A whole number greater than 1 whose only divisors are 1 and "
         "itself, like 2, 3, 5 and 7."),
        ("How many days are in a leap year?", "A leap year has 366 days."),
        ("What language is spoken in Brazil?", "The official language of Brazil is Portuguese."),
        ("Can you explain what an API is in one sentence?", "An API is a defined way for one "
         "program to ask another program for data or actions."),
        ("What's the tallest mountain in the world?", "Mount Everest, at about 8,849 meters "
         "above sea level."),
    ),
    "zh": (
        ("中国的首都是哪里？", "中国的首都是北京。"),
        ("《红楼梦》的作者是谁？", "《红楼梦》的作者是曹雪芹。"),
        ("你好！", "你好！有什么可以帮您的吗？"),
        ("早上好！", "早上好！今天有什么可以帮您？"),
        ("谢谢你的帮助！", "不客气！还有其他需要帮忙的吗？"),
        ("讲个笑话吧。", "为什么数学书总是很忧郁？因为它有太多的问题。"),
        ("水的沸点是多少？", "在标准大气压下，水的沸点是100摄氏度。"),
        ("一年有几个季节？", "一年有四个季节：春、夏、秋、冬。"),
        ("李白是哪个朝代的诗人？", "李白是唐代诗人，被誉为“诗仙”。"),
        ("太阳系最大的行星是哪个？", "太阳系最大的行星是木星。"),
        ("什么是光合作用？", "光合作用是植物利用阳光，把水和二氧化碳转化为糖和氧气的过程。"),
        ("有什么提高睡眠质量的建议吗？", "每天固定时间睡觉和起床，保持卧室安静凉爽，睡前一小时尽量不看手机。"),
        ("写一首关于春天的短诗。", "春风拂柳绿，\n细雨润花红。\n燕子归来早，\n声声入梦中。"),
        ("为什么天空是蓝色的？", "空气分子对蓝光的散射比红光强得多，所以天空看起来是蓝色的。"),
        ("世界上最高的山峰是哪座？", "世界最高峰是珠穆朗玛峰，海拔约8848.86米。"),
        ("CPU是什么意思？", "CPU是中央处理器（Central Processing Unit）的缩写。"),
        ("端午节有什么习俗？", "端午节的传统习俗有吃粽子、赛龙舟、挂艾草等。"),
        ("蜘蛛有几条腿？", "蜘蛛有八条腿。"),
        ("什么是质数？", "质数是大于1、且只能被1和它本身整除的整数，比如2、3、5、7。"),
        ("金的化学符号是什么？", "金的化学符号是Au。"),
        ("闰年有多少天？", "闰年有366天。"),
        ("用一句话解释什么是API。", "API是一个程序向另一个程序请求数据或操作的约定接口。"),
    ),
}
