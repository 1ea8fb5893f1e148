"""How people ask for a family's job in their own words rather than the tool's: "What's the
weather like in {location}?" for ``get_current_weather``, "{location}现在天气怎么样？".

Why: before these, 85% of the corpus's requests repeated the family's own verb phrase (which the
tool's description also holds), and the general agent learned to call a tool only when the request
echoed its description: asked plainly ("What's the weather like in Paris right now?" with
``get_weather`` offered) it called the right tool 1 time of 6 (run H, README "A general agent").

A form is one line per family: ``id | en forms ; ... | zh forms ; ...``. ``{name}`` is the
parameter's value as the user writes it (``asking.surface``: "60 kg", "A, B and C"); a form is
used only when every value it names is said, and values it does not name follow as "The unit is
celsius." Composed families (entity x action) take their action's forms, with ``{e}``/``{z}`` the
entity's words, ``{ID}`` its id and ``{NEW}`` the new value of an update.
"""
from __future__ import annotations

import re

HAND = """
geometry.calculate_triangle_area | What's the area of a triangle with a base of {base} and a height of {height}? ; A triangle is {base} wide at the base and {height} tall. How much area does it cover? | 底边{base}、高{height}的三角形面积是多少？ ; 一个三角形底是{base}，高是{height}，面积有多大？
geometry.calculate_circle_area | How big is a circle with a radius of {radius}? ; What's the area of a circle whose radius is {radius}? | 半径{radius}的圆面积有多大？
geometry.calculate_rectangle_perimeter | A rectangle is {length} long and {width} wide. How far is it around? ; What's the perimeter of a {length} by {width} rectangle? | 长{length}、宽{width}的长方形，一圈有多长？
geometry.calculate_sphere_volume | How much space is inside a ball with a radius of {radius}? ; What's the volume of a sphere of radius {radius}? | 半径{radius}的球体积是多少？
geometry.calculate_cylinder_volume | How much does a cylinder hold if its radius is {radius} and it is {height} tall? | 半径{radius}、高{height}的圆柱能装多少？
geometry.calculate_distance_between_points | How far apart are the points ({x1}, {y1}) and ({x2}, {y2})? | 点({x1}, {y1})和点({x2}, {y2})相距多远？
math.calculate_factorial | What's {number} factorial? ; What do you get if you multiply together all whole numbers from 1 to {number}? | {number}的阶乘是多少？
math.find_prime_factors | What primes divide {number}? ; Break {number} down into its prime factors. | {number}可以分解成哪些质数？
math.calculate_gcd | What's the largest number that divides both {a} and {b}? | {a}和{b}的最大公约数是几？
math.calculate_lcm | What's the smallest number that both {a} and {b} go into? | {a}和{b}的最小公倍数是多少？
math.solve_quadratic_equation | Solve {a}x² + {b}x + {c} = 0 for x. ; For which x is {a}x^2 + {b}x + {c} zero? | 方程{a}x²+{b}x+{c}=0的解是什么？
math.calculate_power | What's {base} to the power of {exponent}? ; How much is {base}^{exponent}? | {base}的{exponent}次方等于多少？
math.calculate_average | What's the mean of {numbers}? ; I have the numbers {numbers}. What do they average out to? | {numbers}的平均数是多少？
math.calculate_standard_deviation | How spread out are {numbers}? I need the standard deviation. ; What's the std dev of {numbers}? | {numbers}这组数据的离散程度（标准差）是多少？
math.calculate_percentage | {part} out of {whole} is what percent? ; What share of {whole} is {part}, in percent? | {part}占{whole}的百分之几？
math.generate_fibonacci | Give me the first {count} Fibonacci numbers. ; What are the first {count} terms of the Fibonacci sequence? | 斐波那契数列前{count}项是什么？
math.convert_to_binary | What's {number} in binary? ; How do you write {number} in base 2? | {number}用二进制怎么写？
math.calculate_median | What's the middle value of {values}? ; Sort {values} and tell me the median. | {values}的中位数是几？
physics.calculate_velocity | Starting at {initial_velocity} and accelerating at {acceleration} for {time}, how fast will it be going? | 初速度{initial_velocity}，加速度{acceleration}，经过{time}以后速度是多少？
physics.calculate_kinetic_energy | How much energy does a {mass} object moving at {velocity} carry? ; What's the kinetic energy of something weighing {mass} going {velocity}? | 质量{mass}、速度{velocity}的物体动能有多大？
physics.calculate_force | How much force does it take to accelerate {mass} at {acceleration}? | 让{mass}的物体产生{acceleration}的加速度需要多大的力？
physics.calculate_density | Something weighs {mass} and takes up {volume}. How dense is it? | 质量{mass}、体积{volume}的东西密度是多少？
physics.calculate_electric_power | How many watts does a circuit draw at {voltage} and {current}? | 电压{voltage}、电流{current}时电路功率多大？
physics.calculate_wavelength | How long are the waves of something vibrating at {frequency}? ; What wavelength goes with a frequency of {frequency}? | 频率{frequency}的波，波长是多少？
chemistry.get_element_properties | Tell me about {element}. What are its properties? ; What's {element} like as an element? | {element}这种元素有什么性质？
chemistry.calculate_molar_mass | How many grams per mole is {formula}? ; What does one mole of {formula} weigh? | {formula}的摩尔质量是多少？
chemistry.calculate_ph | How acidic is a solution with a hydrogen ion concentration of {concentration}? | 氢离子浓度{concentration}的溶液酸碱度是多少？
biology.get_species_info | What can you tell me about the {species}? ; I want to learn about {species}. | 给我讲讲{species}这个物种。
biology.calculate_bmr | How many calories does my body burn at rest? I'm {age}, {weight} and {height}. | 我{age}，体重{weight}，身高{height}，静息时每天消耗多少热量？
health.calculate_bmi | I weigh {weight} and I'm {height} tall. What's my BMI? ; Is {weight} at {height} a healthy weight? | 我体重{weight}，身高{height}，BMI是多少？ ; 身高{height}体重{weight}算胖吗？
health.calculate_daily_water_intake | I weigh {weight}. How much water should I be drinking each day? | 我体重{weight}，每天该喝多少水？
health.find_nearby_doctors | I need a doctor in {city}. Who's around? ; Are there any doctors near me in {city}? | {city}附近有什么医生？
health.calculate_calories_burned | I did {duration} of {activity}. How many calories was that? ; How much energy does {duration} of {activity} burn? | 我{activity}了{duration}，消耗了多少卡路里？
finance.calculate_loan_payment | If I borrow {principal} at {annual_rate} for {years}, what will I pay each month? | 贷款{principal}，年利率{annual_rate}，{years}，每月要还多少？
finance.calculate_compound_interest | If I put {principal} away at {rate} for {years}, how much will it grow to with interest compounding? | {principal}按{rate}的年利率存{years}，复利下来能有多少？
finance.calculate_simple_interest | How much interest does {principal} earn at {rate} over {time}, without compounding? | {principal}本金，利率{rate}，存{time}，利息有多少？
finance.get_stock_price | How much is {ticker} trading at? ; What's {ticker} at right now? | {ticker}现在股价多少？
finance.get_stock_history | How has {ticker} done over the last {days}? ; Show me {ticker}'s prices for the past {days}. | {ticker}最近{days}的股价走势怎么样？
finance.convert_currency | How much is {amount} {from_currency} in {to_currency}? ; I have {amount} {from_currency}. What's that worth in {to_currency}? | {amount}{from_currency}能换多少{to_currency}？
finance.get_exchange_rate | How many {target_currency} do I get for one {base_currency}? ; What's the {base_currency} to {target_currency} rate today? | 一{base_currency}能换多少{target_currency}？
finance.calculate_tip | Our bill came to {bill_amount}. How much should we leave at {tip_percentage}? ; What's a {tip_percentage} tip on {bill_amount}? | 账单{bill_amount}，按{tip_percentage}给小费要给多少？
finance.calculate_discount | It's {original_price} with {discount_percent} off. What do I actually pay? ; How much is a {original_price} item after a {discount_percent} discount? | 原价{original_price}，打掉{discount_percent}以后多少钱？
finance.calculate_sales_tax | How much tax is there on {amount} at {tax_rate}? | 买了{amount}的东西，税率{tax_rate}，要交多少税？
finance.get_crypto_price | What's {coin} worth right now? ; How much is one {coin} today? | {coin}现在值多少钱？
finance.calculate_roi | I put in {initial_investment} and it's now worth {final_value}. How did that investment do? | 投了{initial_investment}，现在值{final_value}，收益率是多少？
finance.calculate_retirement_savings | If I save {monthly_contribution} a month for {years}, how much will I have when I retire? | 每月存{monthly_contribution}，存{years}，退休时能有多少钱？
education.calculate_gpa | My grades are {grades} and the courses are worth {hours} credits. What's my GPA? ; Grades {grades} with credit hours {hours}: what GPA is that? | 我的成绩是{grades}，学分是{hours}，绩点是多少？
education.grade_answers | Here are my answers: {answers}. The key is {key}. How many did I get right? | 我的答案是{answers}，标准答案是{key}，对了几道？
shopping.check_size_stock | Do you have the {product} in {sizes}? ; Is the {product} available in sizes {sizes}? | {product}有{sizes}码吗？
shopping.calculate_order_total | I'm buying items at {prices} each, in quantities {quantities}. What's the total? | 单价{prices}，数量{quantities}，一共多少钱？
finance.get_stock_quotes | Where are {tickers} trading right now? ; How are {tickers} doing today? | {tickers}现在的股价怎么样？
entertainment.book_cinema_seats | Grab me seats {seats} for {movie}. ; I want to sit in {seats} for {movie}. | {movie}给我订{seats}这几个座。
education.calculate_average_score | My test scores were {scores}. What's my average? ; What do the scores {scores} average to? | 我考了{scores}，平均分多少？
education.search_courses | Are there any online classes on {topic}? ; I want to learn {topic}. What courses are out there? | 有没有讲{topic}的网课？
education.get_word_definition | What does "{word}" mean? ; What's the meaning of the word {word}? | “{word}”是什么意思？
education.translate_text | How do you say "{text}" in {target_language}? ; Put "{text}" into {target_language}. | “{text}”用{target_language}怎么说？
weather.get_current_weather | What's the weather like in {location}? ; Is it raining in {location} right now? ; How hot is it in {location} at the moment? | {location}现在天气怎么样？ ; {location}这会儿下雨吗？
weather.get_weather_forecast | What will the weather be like in {city} over the next {days}? ; Should I pack an umbrella for {city} this week? | {city}未来{days}天气怎么样？
weather.get_air_quality | Is the air in {city} OK to breathe today? ; How polluted is {city} right now? | {city}今天空气好不好？
weather.get_uv_index | Do I need sunscreen in {location}? ; How strong is the sun in {location}? | 在{location}要不要涂防晒？
weather.get_sunrise_sunset | When does the sun come up in {city} on {date}? ; What time does it get dark in {city} on {date}? | {date}在{city}几点天亮、几点天黑？
geography.get_country_capital | What's the capital of {country}? ; Which city is {country}'s capital? | {country}的首都是哪里？
geography.get_population | How many people live in {city}? ; How big is {city}, population-wise? | {city}有多少人口？
geography.get_timezone | What time zone is {city} in? ; What's the UTC offset in {city}? | {city}用的是哪个时区？
geography.get_distance_between_cities | How far is {origin} from {destination}? ; How many miles between {origin} and {destination}? | {origin}离{destination}有多远？
geography.get_coordinates | Where exactly is {place} on the map? ; What are the coordinates of {place}? | {place}的经纬度是多少？
travel.get_directions | How do I get from {start} to {end}? ; What's the best route from {start} to {end}? | 从{start}怎么去{end}？
travel.search_flights | Are there flights from {origin} to {destination} on {date}? ; I need to fly {origin} to {destination} on {date}. What's available? | {date}有从{origin}飞{destination}的航班吗？
travel.search_hotels | I need somewhere to stay in {city} for {nights} from {check_in}. ; Any rooms in {city} from {check_in} for {nights}? | {check_in}起在{city}住{nights}，有什么酒店？
travel.find_tourist_attractions | What's worth seeing in {city}? ; I'm visiting {city}. What should I check out? | 去{city}有什么好玩的？
travel.get_visa_requirements | Do I need a visa to go to {destination} with a {nationality} passport? | 我是{nationality}人，去{destination}要签证吗？
travel.rent_car | I'll need wheels in {city} for {days} starting {start_date}. ; Can I get a rental car in {city} from {start_date} for {days}? | {start_date}开始在{city}用车{days}，能租到车吗？
food.find_restaurants | Where can I get good {cuisine} food in {city}? ; Any {cuisine} places to eat in {city}? | {city}哪里有好吃的{cuisine}？
food.search_recipes | What can I cook with {ingredients}? ; I've got {ingredients}. Any dinner ideas? | 家里有{ingredients}，能做什么菜？
food.get_nutrition_info | How many calories are in {food}? ; Is {food} healthy? What's in it? | {food}有多少热量？
food.book_table | Get us a table for {people} at {restaurant} on {date} at {time}. ; Can we eat at {restaurant} on {date} at {time}? We're {people}. | {date} {time}在{restaurant}给我们留个{people}人的位子。
entertainment.search_movies | Any good {genre} films? ; I'm in the mood for a {genre} movie. What's out there? | 有什么好看的{genre}片？
entertainment.get_movie_details | What's {title} about? ; Who's in {title}, and when did it come out? | 《{title}》讲的是什么？
entertainment.find_movie_showtimes | When is {movie} playing in {city}? ; Where can I watch {movie} in {city}? | {city}哪里在放{movie}，几点的？
entertainment.get_song_lyrics | How does {song} go? What are the words? ; What are the words to {song}? | {song}的歌词是什么？
entertainment.play_music | Put on {song}. ; I want to hear {song}. | 放一首{song}。 ; 我想听{song}。
entertainment.get_artist_top_tracks | What are {artist}'s biggest hits? ; Which {artist} songs should I start with? | {artist}最火的歌有哪些？
entertainment.get_book_recommendations | What {genre} books should I read next? ; Any good {genre} novels you'd suggest? | 有什么好看的{genre}小说？
entertainment.search_books | Is there a book called {query}? ; I'm looking for {query}. Can you find it? | 找一下《{query}》这本书。
sports.get_team_standings | Where are the {team} in the table? ; How are the {team} doing in the league this year? | {team}现在排第几？
sports.get_match_schedule | When do the {team} play next? ; Who are the {team} up against next? | {team}下一场什么时候打？
sports.get_league_champion | Who won the {league} in {year}? ; Which team took the {league} title in {year}? | {year}年{league}冠军是谁？
sports.get_player_stats | How has {player} been playing? ; What are {player}'s numbers? | {player}的数据怎么样？
sports.calculate_running_pace | I ran {distance} in {time_minutes}. How fast was that per km? | 我{time_minutes}跑了{distance}，配速多少？
shopping.search_products | Where can I buy a {query}? ; Do you sell {query}? | 哪里能买到{query}？
shopping.get_product_reviews | Is the {product} any good? What do buyers say? ; What do people think of the {product}? | {product}好用吗？买过的人怎么说？
shopping.compare_prices | Which is cheaper: {products}? ; What do {products} cost side by side? | {products}哪个便宜？
shopping.track_package | Where's my package {tracking_number}? ; Has {tracking_number} shipped yet? | 快递{tracking_number}到哪儿了？
communication.send_email | Write to {to} with the subject "{subject}": {body} ; Drop {to} a line about "{subject}" saying {body} | 给{to}发个信，主题“{subject}”，内容：{body}
communication.send_sms | Text {phone_number}: {message} ; Send "{message}" to {phone_number}. | 给{phone_number}发条短信：{message}
communication.send_group_email | Let {recipients} know about "{subject}" by email. ; Mail everyone on {recipients}, subject "{subject}". | 给{recipients}群发一封邮件，主题“{subject}”。
communication.schedule_meeting | Put a meeting called "{title}" on {date} at {time}. ; Get everyone together for "{title}" on {date} at {time}. | {date} {time}开个会，叫“{title}”。
productivity.create_reminder | Remind me to {text} at {time}. ; Don't let me forget: {text}, at {time}. | {time}提醒我{text}。
productivity.create_calendar_event | Block out {date} at {start_time} for "{title}". ; Put "{title}" in my calendar for {date}, {start_time}. | 把“{title}”记到{date} {start_time}。
productivity.create_todo | Add "{task}" to my list. ; I need to remember to {task}. Put it on my list. | 把“{task}”记到待办里。
productivity.set_timer | Give me {minutes} on the clock. ; Start a countdown of {minutes}. | 倒计时{minutes}。
productivity.count_words | How long is this text, in words? "{text}" ; How many words are in "{text}"? | “{text}”这段话有几个字？
productivity.summarize_text | Give me the short version of this: "{text}" ; TL;DR of "{text}"? | 用几句话概括一下：“{text}”
productivity.generate_password | I need a new password, {length} characters long. ; Make me a strong {length}-character password. | 给我一个{length}位的密码。
dates.calculate_age | I was born on {birth_date}. How old am I? ; How old is someone born {birth_date}? | 我{birth_date}出生，今年几岁？
dates.days_between_dates | How long is it from {start_date} to {end_date}? ; How many days are there between {start_date} and {end_date}? | 从{start_date}到{end_date}有多少天？
dates.get_day_of_week | What day of the week is {date}? ; Is {date} a weekend? | {date}是星期几？
dates.convert_timezone | If it's {time} in {from_city}, what time is it in {to_city}? | {from_city}{time}的时候{to_city}是几点？
dates.get_holidays | What days off does {country} have in {year}? ; When are the public holidays in {country} in {year}? | {year}年{country}放哪些假？
units.convert_length | How much is {value} {from_unit} in {to_unit}? ; {value} {from_unit} is how many {to_unit}? | {value}{from_unit}是多少{to_unit}？
units.convert_weight | How much is {value} {from_unit} in {to_unit}? ; What does {value} {from_unit} come to in {to_unit}? | {value}{from_unit}等于多少{to_unit}？
units.convert_temperature | What's {temperature} {from_unit} in {to_unit}? ; Is {temperature} degrees {from_unit} hot in {to_unit} terms? | {temperature}度{from_unit}是多少{to_unit}？
tech.check_website_status | Is {url} down? ; I can't open {url}. Is it just me? | {url}是不是挂了？
tech.lookup_ip_address | Where is {ip} from? ; Who's behind the IP {ip}, and where? | {ip}是哪里的IP？
tech.shorten_url | This link is too long: {url}. Make it short. ; Can I get a tiny link for {url}? | 把{url}弄成短链接。
tech.generate_qr_code | Make a code people can scan for {data}. ; I want a scannable code for {data}. | 给{data}做个扫码用的码。
news.get_latest_news | What's new in {topic}? ; Any news on {topic} today? | {topic}最近有什么新闻？
news.search_news | Find me articles about {query}. ; What has been written about {query} lately? | 有关{query}的报道有哪些？
science.get_planet_info | Tell me about {planet}. ; How big is {planet}, and how far is it from the Sun? | 给我讲讲{planet}。
science.calculate_half_life_remaining | I start with {initial_amount} of an isotope with a half-life of {half_life}. How much is left after {elapsed}? | {initial_amount}的放射性物质，半衰期{half_life}，过了{elapsed}还剩多少？
real_estate.estimate_home_value | What's a {bedrooms}-bedroom, {square_feet} house in {city} worth? ; How much could I sell my {square_feet} place in {city} with {bedrooms} bedrooms for? | {city}一套{square_feet}、{bedrooms}个卧室的房子值多少钱？
real_estate.calculate_mortgage | The house is {home_price}, I put {down_payment} down, the rate is {rate} over {years}. What's my monthly payment? | 房价{home_price}，首付{down_payment}，利率{rate}，贷{years}，每月还多少？
home.set_thermostat | Make it {temperature} in here. ; I'm cold, turn the heat up to {temperature}. | 把温度调到{temperature}。
home.control_lights | It's too dark in the {room}. ; Lights in the {room}, please. | {room}太暗了。
vehicles.calculate_fuel_cost | How much will gas cost me to drive {distance} at {fuel_efficiency} with fuel at {fuel_price}? | 开{distance}，油耗{fuel_efficiency}，油价{fuel_price}，油钱多少？
vehicles.find_charging_stations | Where can I charge my EV in {city}? ; My car's battery is low. Any chargers in {city}? | {city}哪里能给电动车充电？
jobs.search_jobs | Is anyone hiring a {title} in {city}? ; Any {title} openings in {city}? | {city}有招{title}的吗？
jobs.estimate_salary | How much does a {job_title} make in {city}? ; What's the going pay for a {job_title} in {city}? | {city}做{job_title}一个月能挣多少？
"""

# action -> (en forms, zh forms); slots: {e} {z} the entity, {ID} its id, {NEW} an update's new value
ACTIONS = {
    "create": (("I need a new {e}.", "Set up a {e} for me.", "Make me a {e}."),
               ("我要一个新的{z}。", "给我建个{z}。")),
    "get": (("Pull up {e} {ID}.", "What's the status of {e} {ID}?", "Show me {e} {ID}."),
            ("看看{z}{ID}。", "{z}{ID}现在什么情况？")),
    "cancel": (("I don't need {e} {ID} any more. Please drop it.", "Call off {e} {ID}.",
                "Scrap {e} {ID}."), ("{z}{ID}不要了，帮我撤掉。", "{z}{ID}作废吧。")),
    "update": (("For {e} {ID}, make it {NEW} instead.", "{e} {ID} should say {NEW} now."),
               ("把{z}{ID}改成{NEW}。", "{z}{ID}那里换成{NEW}。")),
    "search": (("Are there any {e}s?", "Show me the {e}s.", "Look through the {e}s for me."),
               ("有没有{z}？", "列一下{z}。")),
}

SLOT = re.compile(r"\{(\w+)\}")


def slots(form: str) -> set[str]:
    return set(SLOT.findall(form))


def _forms(text: str) -> tuple[str, ...]:
    return tuple(f.strip() for f in text.split(";") if f.strip())


def _hand() -> dict[str, dict[str, tuple[str, ...]]]:
    out = {}
    for line in filter(None, (l.strip() for l in HAND.strip().splitlines())):
        fid, en, zh = (p.strip() for p in line.split("|"))
        out[fid] = {"en": _forms(en), "zh": _forms(zh)}
    return out


BY_FAMILY = _hand()


def composed_forms(action: str, entity: dict[str, str], names: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """An entity x action family's forms: `entity` its words per language, `names` the parameter
    names of its {ID} and {NEW} slots."""
    en, zh = ACTIONS[action]
    def fill(form: str) -> str:
        form = form.replace("{e}", entity["en"]).replace("{z}", entity["zh"])
        for slot, name in names.items():
            form = form.replace("{" + slot + "}", "{" + name + "}")
        return form[:1].upper() + form[1:]
    return {"en": tuple(map(fill, en)), "zh": tuple(map(fill, zh))}
