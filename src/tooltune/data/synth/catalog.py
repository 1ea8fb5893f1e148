"""The general corpus's tool families: hand-written ones across many domains, and ones composed
from entities x actions (a booking, a ticket, an invoice ... x get, search, create, update,
cancel). Each family is one tool's meaning; ``variants.py`` turns a family into many tool schemas
(names, parameter names, descriptions, optional parameters), so a model sees thousands of tools.

A family is written on one line: its domain, base name, what it does (an English verb phrase and
its Chinese), and its parameters as ``name[?]:kind:label|中文标签[:unit|单位]`` (``?`` = optional,
``kind`` one of ``values.KINDS``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from tooltune.data.synth.implementations import IMPLEMENTED
from tooltune.data.synth.questions import BY_FAMILY as QUESTIONS, composed_forms, slots
from tooltune.data.synth.values import KINDS, ValueKind


@dataclass(frozen=True)
class ParamSpec:
    name: str
    kind: str | ValueKind          # a name in values.KINDS, or a kind of its own (a user's enum)
    label: dict[str, str]          # lang -> what a person calls it ("principal", "本金")
    unit: dict[str, str] | None    # lang -> unit said after the value ("kg", "公斤")
    required: bool

    @property
    def value_kind(self) -> ValueKind:
        return KINDS[self.kind] if isinstance(self.kind, str) else self.kind


@dataclass(frozen=True)
class Family:
    id: str                        # stable: what the by-tool split partitions on
    domain: str
    name: str                      # base snake_case name
    does: dict[str, str]           # lang -> verb phrase ("calculate the area of a triangle")
    params: tuple[ParamSpec, ...]
    function: Callable | None = None   # a real function to run (harvested or the user's), by keyword
    schema: dict | None = field(default=None, compare=False)  # a tool schema to keep as it is (the user's)
    # lang -> how people ask for this job in their own words, {param} slots (questions.py)
    asks: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False)

    def __post_init__(self):
        names = {p.name for p in self.params}
        for form in (f for forms in self.asks.values() for f in forms):
            if not slots(form) <= names:
                raise ValueError(f"catalog: {self.id}: the question {form!r} names "
                                 f"{sorted(slots(form) - names)}, not parameters of the family")


def _params(spec: str) -> tuple[ParamSpec, ...]:
    out = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        fields = part.split(":")
        name, kind, label = fields[0], fields[1], fields[2]
        if kind not in KINDS:
            raise ValueError(f"catalog: unknown value kind {kind!r} in {part!r}")
        en, _, zh = label.partition("|")
        unit = None
        if len(fields) > 3:
            u_en, _, u_zh = fields[3].partition("|")
            unit = {"en": u_en, "zh": u_zh or u_en}
        out.append(ParamSpec(name.rstrip("?"), kind, {"en": en, "zh": zh or en}, unit, not name.endswith("?")))
    return tuple(out)


# domain | name | does (en) | does (zh) | parameters
HAND = """
geometry | calculate_triangle_area | calculate the area of a triangle | 计算三角形的面积 | base:length:base|底边, height:length:height|高, unit?:length_unit:unit|单位
geometry | calculate_circle_area | calculate the area of a circle | 计算圆的面积 | radius:length:radius|半径, unit?:length_unit:unit|单位
geometry | calculate_rectangle_perimeter | find the perimeter of a rectangle | 求长方形的周长 | length:length:length|长, width:length:width|宽
geometry | calculate_sphere_volume | compute the volume of a sphere | 计算球体的体积 | radius:length:radius|半径
geometry | calculate_cylinder_volume | calculate the volume of a cylinder | 计算圆柱体的体积 | radius:length:radius|半径, height:length:height|高
geometry | calculate_distance_between_points | calculate the distance between two points | 计算两点之间的距离 | x1:int_medium:first x coordinate|第一个点的x坐标, y1:int_medium:first y coordinate|第一个点的y坐标, x2:int_medium:second x coordinate|第二个点的x坐标, y2:int_medium:second y coordinate|第二个点的y坐标
math | calculate_factorial | calculate the factorial of a number | 计算一个数的阶乘 | number:int_small:number|数
math | find_prime_factors | find the prime factors of a number | 求一个数的质因数 | number:int_large:number|数
math | calculate_gcd | find the greatest common divisor of two numbers | 求两个数的最大公约数 | a:int_large:first number|第一个数, b:int_large:second number|第二个数
math | calculate_lcm | find the least common multiple of two numbers | 求两个数的最小公倍数 | a:int_medium:first number|第一个数, b:int_medium:second number|第二个数
math | solve_quadratic_equation | find the roots of a quadratic equation | 求一元二次方程的根 | a:int_small:coefficient a|系数a, b:int_medium:coefficient b|系数b, c:int_small:coefficient c|系数c
math | calculate_power | raise a number to a power | 计算一个数的幂 | base:int_small:base|底数, exponent:int_small:exponent|指数
math | calculate_average | calculate the average of a list of numbers | 计算一组数的平均值 | numbers:number_list:numbers|数字
math | calculate_standard_deviation | compute the standard deviation of some numbers | 计算一组数据的标准差 | numbers:number_list:numbers|数据
math | calculate_percentage | work out what percentage one number is of another | 计算一个数占另一个数的百分比 | part:int_medium:part|部分, whole:int_large:total|总数
math | generate_fibonacci | list the first terms of the Fibonacci sequence | 列出斐波那契数列的前几项 | count:int_medium:number of terms|项数
math | convert_to_binary | convert a number to binary | 把一个数转换成二进制 | number:int_large:number|数
math | calculate_median | find the median of a set of numbers | 求一组数的中位数 | values:number_list:values|数值
physics | calculate_velocity | calculate the final velocity of an object | 计算物体的末速度 | initial_velocity:int_medium:initial velocity|初速度:m/s|米每秒, acceleration:int_small:acceleration|加速度:m/s²|米每二次方秒, time:int_small:time|时间:seconds|秒
physics | calculate_kinetic_energy | compute the kinetic energy of a moving object | 计算运动物体的动能 | mass:weight_kg:mass|质量:kg|千克, velocity:speed:velocity|速度:m/s|米每秒
physics | calculate_force | calculate the force on an object | 计算物体受到的力 | mass:weight_kg:mass|质量:kg|千克, acceleration:int_small:acceleration|加速度:m/s²|米每二次方秒
physics | calculate_density | calculate the density of a substance | 计算物质的密度 | mass:mass_g:mass|质量:grams|克, volume:length:volume|体积:cubic centimeters|立方厘米
physics | calculate_electric_power | work out the electrical power of a circuit | 计算电路的功率 | voltage:int_large:voltage|电压:volts|伏, current:int_small:current|电流:amperes|安
physics | calculate_wavelength | find the wavelength of a wave | 计算波长 | frequency:int_large:frequency|频率:Hz|赫兹, speed?:int_large:wave speed|波速:m/s|米每秒
chemistry | get_element_properties | look up the properties of a chemical element | 查询化学元素的性质 | element:element:element|元素
chemistry | calculate_molar_mass | calculate the molar mass of a compound | 计算化合物的摩尔质量 | formula:element:compound|化合物
chemistry | calculate_ph | calculate the pH of a solution | 计算溶液的pH值 | concentration:rate_percent:hydrogen ion concentration|氢离子浓度:mol/L|摩尔每升
biology | get_species_info | get information about an animal species | 查询一个物种的信息 | species:species:species|物种, include_habitat?:flag:whether to include its habitat|是否包含栖息地
biology | calculate_bmr | estimate a person's basal metabolic rate | 估算基础代谢率 | weight:weight_kg:weight|体重:kg|公斤, height:height_cm:height|身高:cm|厘米, age:age:age|年龄:years old|岁
health | calculate_bmi | calculate the body mass index | 计算身体质量指数BMI | weight:weight_kg:weight|体重:kg|公斤, height:height_cm:height|身高:cm|厘米
health | calculate_daily_water_intake | recommend how much water a person should drink a day | 推荐每天的饮水量 | weight:weight_kg:weight|体重:kg|公斤, activity_level?:priority:activity level|活动量
health | find_nearby_doctors | find doctors nearby | 查找附近的医生 | city:city:city|城市, specialty?:keyword:specialty|专科
health | calculate_calories_burned | estimate the calories burned during exercise | 估算运动消耗的卡路里 | activity:sport:activity|运动, duration:minutes:duration|时长:minutes|分钟, weight?:weight_kg:body weight|体重:kg|公斤
finance | calculate_loan_payment | calculate the monthly payment of a loan | 计算贷款的月供 | principal:principal:loan amount|贷款金额:dollars|元, annual_rate:rate_percent:annual interest rate|年利率:%|%, years:int_medium:term|期限:years|年
finance | calculate_compound_interest | calculate compound interest on an investment | 计算投资的复利 | principal:principal:principal|本金:dollars|元, rate:rate_percent:annual rate|年利率:%|%, years:int_small:number of years|年数:years|年, compounds_per_year?:int_small:compounding periods per year|每年复利次数
finance | calculate_simple_interest | work out the simple interest | 计算单利 | principal:principal:principal|本金:dollars|元, rate:rate_percent:interest rate|利率:%|%, time:int_small:time|时间:years|年
finance | get_stock_price | get the current stock price of a company | 查询公司的当前股价 | ticker:ticker:ticker symbol|股票代码, exchange?:keyword:exchange|交易所
finance | get_stock_history | fetch the price history of a stock | 获取股票的历史价格 | ticker:ticker:ticker symbol|股票代码, days:days:number of days|天数
finance | convert_currency | convert an amount of money to another currency | 把一笔钱换算成另一种货币 | amount:amount:amount|金额, from_currency:currency:source currency|原货币, to_currency:currency:target currency|目标货币
finance | get_exchange_rate | get the exchange rate between two currencies | 查询两种货币之间的汇率 | base_currency:currency:base currency|基础货币, target_currency:currency:target currency|目标货币
finance | calculate_tip | calculate the tip for a bill | 计算账单的小费 | bill_amount:price:bill amount|账单金额:dollars|元, tip_percentage:percent:tip percentage|小费比例:%|%, split?:n_people:number of people splitting|分摊人数
finance | calculate_discount | find the price after a discount | 计算打折后的价格 | original_price:price:original price|原价:dollars|元, discount_percent:percent:discount|折扣:%|%
finance | calculate_sales_tax | compute the sales tax on a purchase | 计算购物的销售税 | amount:price:purchase amount|购买金额:dollars|元, tax_rate:rate_percent:tax rate|税率:%|%
finance | get_crypto_price | get the current price of a cryptocurrency | 查询加密货币的当前价格 | coin:crypto:coin|币种, currency?:currency:currency|计价货币
finance | calculate_roi | calculate the return on an investment | 计算投资回报率 | initial_investment:principal:initial investment|初始投资:dollars|元, final_value:principal:final value|最终价值:dollars|元
finance | calculate_retirement_savings | project retirement savings | 估算退休储蓄 | monthly_contribution:amount:monthly contribution|每月存入:dollars|元, years:int_medium:years until retirement|距退休年数:years|年, annual_return?:rate_percent:expected annual return|预期年回报率:%|%
education | calculate_gpa | calculate a GPA from grades and credit hours | 根据成绩和学分计算GPA | grades:grade_list:grades|成绩, hours:credit_list:credit hours|学时
education | grade_answers | grade multiple-choice answers against the answer key | 对照标准答案批改选择题 | answers:answer_list:answers|答案, key:answer_list:answer key|标准答案
shopping | check_size_stock | check which sizes of a product are in stock | 查询一件商品哪些尺码有货 | product:product:product|商品, sizes:size_list:sizes|尺码
shopping | calculate_order_total | total an order from unit prices and quantities | 根据单价和数量计算订单总额 | prices:price_list:unit prices|单价, quantities:quantity_list:quantities|数量
finance | get_stock_quotes | get the latest quotes for several stocks | 查询几只股票的最新报价 | tickers:ticker_list:ticker symbols|股票代码
entertainment | book_cinema_seats | book seats for a movie | 预订电影座位 | movie:movie:movie|电影, seats:seat_list:seats|座位
education | calculate_average_score | calculate the average of exam scores | 计算考试成绩的平均分 | scores:score_list:scores|分数
education | search_courses | search for online courses | 搜索在线课程 | topic:keyword:topic|主题, level?:priority:level|难度, max_results?:limit:maximum number of results|最多结果数
education | get_word_definition | look up the definition of a word | 查询一个单词的释义 | word:keyword:word|单词, language?:language:language|语言
education | translate_text | translate a piece of text | 翻译一段文字 | text:sentence:text|文本, target_language:language:target language|目标语言, source_language?:language:source language|源语言
weather | get_current_weather | get the current weather | 查询当前天气 | location:city:location|地点, unit?:temp_unit:temperature unit|温度单位
weather | get_weather_forecast | get the weather forecast | 查询天气预报 | city:city:city|城市, days:days:number of days|天数
weather | get_air_quality | check the air quality index | 查询空气质量指数 | city:city:city|城市
weather | get_uv_index | get the UV index | 查询紫外线指数 | location:city:location|地点, date?:date:date|日期
weather | get_sunrise_sunset | find the sunrise and sunset times | 查询日出日落时间 | city:city:city|城市, date:date:date|日期
geography | get_country_capital | find the capital of a country | 查询一个国家的首都 | country:country:country|国家
geography | get_population | get the population of a city | 查询城市的人口 | city:city:city|城市, year?:year:year|年份
geography | get_timezone | find the time zone of a city | 查询城市所在的时区 | city:city:city|城市
geography | get_distance_between_cities | get the distance between two cities | 查询两个城市之间的距离 | origin:city:origin|出发城市, destination:city:destination|目的城市, unit?:length_unit:unit|单位
geography | get_coordinates | get the latitude and longitude of a place | 获取一个地点的经纬度 | place:city:place|地点
travel | get_directions | get directions between two places | 获取两地之间的路线 | start:city:start|起点, end:city:destination|终点, mode?:transport:travel mode|出行方式
travel | search_flights | search for flights | 搜索航班 | origin:city:departure city|出发城市, destination:city:arrival city|到达城市, date:date:departure date|出发日期, cabin_class?:cabin:cabin class|舱位
travel | search_hotels | find hotels | 查找酒店 | city:city:city|城市, check_in:date:check-in date|入住日期, nights:days:number of nights|入住晚数, guests?:n_people:number of guests|入住人数
travel | find_tourist_attractions | find tourist attractions | 查找旅游景点 | city:city:city|城市, category?:keyword:category|类别
travel | get_visa_requirements | check the visa requirements for a trip | 查询旅行的签证要求 | nationality:country:nationality|国籍, destination:country:destination country|目的国
travel | rent_car | rent a car | 租一辆车 | city:city:pickup city|取车城市, start_date:date:start date|开始日期, days:days:number of days|天数
food | find_restaurants | find restaurants | 查找餐厅 | city:city:city|城市, cuisine:cuisine:cuisine|菜系, max_price?:price:maximum price|最高价格:dollars|元
food | search_recipes | search for recipes | 搜索菜谱 | ingredients:ingredient_list:ingredients|食材, diet?:diet:dietary restriction|饮食限制
food | get_nutrition_info | get the nutrition facts of a food | 查询食物的营养成分 | food:product:food|食物, serving_grams?:mass_g:serving size|份量:grams|克
food | book_table | book a table at a restaurant | 预订餐厅座位 | restaurant:restaurant:restaurant|餐厅, people:n_people:number of people|人数, date:date:date|日期, time:time:time|时间
entertainment | search_movies | search for movies | 搜索电影 | genre:genre:genre|类型, year?:year:release year|上映年份
entertainment | get_movie_details | get details about a movie | 获取电影的详细信息 | title:movie:movie title|电影名
entertainment | find_movie_showtimes | find showtimes for a movie | 查询电影场次 | movie:movie:movie|电影, city:city:city|城市, date?:date:date|日期
entertainment | get_song_lyrics | get the lyrics of a song | 获取歌曲的歌词 | song:song:song title|歌名, artist?:artist:artist|歌手
entertainment | play_music | play some music | 播放音乐 | song:song:song|歌曲, volume?:percent:volume|音量, shuffle?:flag:shuffle|是否随机播放
entertainment | get_artist_top_tracks | list an artist's most popular songs | 列出歌手最受欢迎的歌曲 | artist:artist:artist|歌手, limit?:limit:number of tracks|歌曲数量
entertainment | get_book_recommendations | recommend books | 推荐书籍 | genre:genre:genre|类型, count?:count:number of books|数量
entertainment | search_books | search for books | 搜索图书 | query:book:title or keyword|书名或关键词, author?:person:author|作者
sports | get_team_standings | get a team's standing in its league | 查询球队的联赛排名 | team:team:team|球队, season?:year:season|赛季
sports | get_match_schedule | get a team's upcoming matches | 查询球队接下来的赛程 | team:team:team|球队, count?:count:number of matches|场数
sports | get_league_champion | find who won a league in a given year | 查询某年的联赛冠军 | league:league:league|联赛, year:year:year|年份
sports | get_player_stats | get a player's statistics | 查询球员的数据 | player:person:player|球员, season?:year:season|赛季
sports | calculate_running_pace | calculate a running pace | 计算跑步配速 | distance:length:distance|距离:km|公里, time_minutes:minutes:time|时间:minutes|分钟
shopping | search_products | search for products in a store | 在商店里搜索商品 | query:product:product|商品, max_price?:price:maximum price|最高价格:dollars|元, sort?:sort_order:sort order|排序
shopping | get_product_reviews | get reviews of a product | 获取商品的评价 | product:product:product|商品, min_rating?:rating:minimum rating|最低评分:stars|星
shopping | compare_prices | compare the prices of products | 比较商品价格 | products:ingredient_list:products|商品
shopping | track_package | track a package | 查询包裹物流 | tracking_number:id:tracking number|快递单号
communication | send_email | send an email | 发送一封邮件 | to:email:recipient|收件人, subject:title:subject|主题, body:note_text:message|正文
communication | send_sms | send a text message | 发送短信 | phone_number:phone:phone number|手机号, message:note_text:message|内容
communication | send_group_email | email a group of people | 给一组人发邮件 | recipients:email_list:recipients|收件人, subject:title:subject|主题
communication | schedule_meeting | schedule a meeting | 安排一个会议 | title:title:title|标题, date:date:date|日期, time:time:time|时间, attendees?:email_list:attendees|参会人
productivity | create_reminder | set a reminder | 设置一个提醒 | text:note_text:reminder|提醒内容, time:time:time|时间, date?:date:date|日期
productivity | create_calendar_event | add an event to the calendar | 在日历里添加一个日程 | title:title:title|标题, date:date:date|日期, start_time:time:start time|开始时间, duration_minutes?:minutes:duration|时长:minutes|分钟
productivity | create_todo | add a task to the to-do list | 在待办清单里添加一项任务 | task:note_text:task|任务, due_date?:date:due date|截止日期, priority?:priority:priority|优先级
productivity | set_timer | set a timer | 设置一个计时器 | minutes:minutes:duration|时长:minutes|分钟, label?:note_text:label|标签
productivity | count_words | count the words in a text | 统计一段文字的字数 | text:sentence:text|文本
productivity | summarize_text | summarize a text | 总结一段文字 | text:sentence:text|文本, max_words?:limit:maximum words|最多字数
productivity | generate_password | generate a random password | 生成一个随机密码 | length:int_medium:length|长度, include_symbols?:flag:include symbols|是否包含符号
dates | calculate_age | calculate someone's age from their birth date | 根据出生日期计算年龄 | birth_date:date:birth date|出生日期
dates | days_between_dates | count the days between two dates | 计算两个日期之间相隔的天数 | start_date:date:start date|开始日期, end_date:date:end date|结束日期
dates | get_day_of_week | find the day of the week for a date | 查询某个日期是星期几 | date:date:date|日期
dates | convert_timezone | convert a time between time zones | 在时区之间换算时间 | time:time:time|时间, from_city:city:source city|原城市, to_city:city:target city|目标城市
dates | get_holidays | list the public holidays | 列出法定节假日 | country:country:country|国家, year:year:year|年份
units | convert_length | convert a length between units | 换算长度单位 | value:length:value|数值, from_unit:length_unit:source unit|原单位, to_unit:length_unit:target unit|目标单位
units | convert_weight | convert a weight between units | 换算重量单位 | value:weight_kg:value|数值, from_unit:weight_unit:source unit|原单位, to_unit:weight_unit:target unit|目标单位
units | convert_temperature | convert a temperature | 换算温度 | temperature:temperature:temperature|温度, from_unit:temp_unit:source unit|原单位, to_unit:temp_unit:target unit|目标单位
tech | check_website_status | check whether a website is up | 检查网站是否正常 | url:url:URL|网址
tech | lookup_ip_address | look up where an IP address is located | 查询IP地址的位置 | ip:ip:IP address|IP地址
tech | shorten_url | shorten a URL | 缩短一个网址 | url:url:URL|网址, custom_alias?:keyword:custom alias|自定义别名
tech | generate_qr_code | generate a QR code | 生成二维码 | data:url:content|内容, size?:int_large:size in pixels|尺寸:pixels|像素
news | get_latest_news | get the latest news | 获取最新新闻 | topic:keyword:topic|主题, count?:count:number of articles|条数, language?:language:language|语言
news | search_news | search news articles | 搜索新闻报道 | query:keyword:query|关键词, from_date?:date:from date|开始日期
science | get_planet_info | get facts about a planet | 查询行星的资料 | planet:planet:planet|行星
science | calculate_half_life_remaining | calculate how much of a radioactive substance remains | 计算放射性物质的剩余量 | initial_amount:mass_g:initial amount|初始量:grams|克, half_life:int_medium:half-life|半衰期:years|年, elapsed:int_medium:time elapsed|经过时间:years|年
real_estate | estimate_home_value | estimate the value of a home | 估算房屋的价值 | city:city:city|城市, square_feet:int_large:size|面积:square feet|平方英尺, bedrooms:int_small:number of bedrooms|卧室数
real_estate | calculate_mortgage | calculate a monthly mortgage payment | 计算每月房贷还款额 | home_price:principal:home price|房价:dollars|元, down_payment:principal:down payment|首付:dollars|元, rate:rate_percent:interest rate|利率:%|%, years:int_medium:term|期限:years|年
home | set_thermostat | set the thermostat | 调节恒温器温度 | temperature:temperature:temperature|温度:degrees|度, room?:place:room|房间
home | control_lights | turn the lights on or off | 开关灯 | room:place:room|房间, on:flag:whether the lights should be on|是否开灯, brightness?:percent:brightness|亮度:%|%
vehicles | calculate_fuel_cost | estimate the fuel cost of a trip | 估算一次出行的油费 | distance:int_large:distance|距离:km|公里, fuel_efficiency:int_small:fuel consumption|油耗:liters per 100 km|升每百公里, fuel_price:rate_percent:fuel price|油价:per liter|元每升
vehicles | find_charging_stations | find EV charging stations | 查找电动车充电桩 | city:city:city|城市, radius_km?:int_medium:search radius|搜索半径:km|公里
jobs | search_jobs | search for job openings | 搜索招聘职位 | title:keyword:job title|职位, city:city:city|城市, remote?:flag:remote only|是否只看远程
jobs | estimate_salary | estimate the salary for a job | 估算一个职位的薪资 | job_title:keyword:job title|职位, city:city:city|城市, years_experience?:int_small:years of experience|工作年限:years|年
"""

# Entities composed with actions: (domain, entity, 中文, id param, fields as in HAND).
ENTITIES = """
travel | hotel_booking | 酒店预订 | city:city:city|城市, check_in:date:check-in date|入住日期, nights:days:nights|晚数, room_type?:room_type:room type|房型
travel | flight_booking | 机票预订 | origin:city:from|出发地, destination:city:to|目的地, date:date:date|日期, cabin?:cabin:cabin|舱位
food | restaurant_reservation | 餐厅预订 | restaurant:restaurant:restaurant|餐厅, date:date:date|日期, time:time:time|时间, party_size:n_people:party size|人数
shopping | order | 订单 | product:product:product|商品, quantity:count:quantity|数量, shipping_city?:city:shipping city|收货城市
support | support_ticket | 工单 | subject:title:subject|主题, priority:priority:priority|优先级, status?:status:status|状态
finance | invoice | 发票 | customer:company:customer|客户, amount:amount:amount|金额:dollars|元, due_date:date:due date|到期日
finance | bank_transfer | 转账 | recipient:person:recipient|收款人, amount:amount:amount|金额:dollars|元, currency?:currency:currency|货币
hr | employee | 员工 | name:person:name|姓名, department:keyword:department|部门, start_date?:date:start date|入职日期
hr | leave_request | 请假申请 | employee:person:employee|员工, start_date:date:start date|开始日期, days:days:days|天数
health | doctor_appointment | 预约挂号 | patient:person:patient|患者, date:date:date|日期, time:time:time|时间, department?:keyword:department|科室
productivity | note | 笔记 | title:title:title|标题, content:note_text:content|内容, tags?:tag_list:tags|标签
productivity | task | 任务 | title:note_text:title|标题, due_date:date:due date|截止日期, priority?:priority:priority|优先级
productivity | contact | 联系人 | name:person:name|姓名, phone:phone:phone|电话, email?:email:email|邮箱
entertainment | playlist | 歌单 | name:keyword:name|名称, genre?:genre:genre|风格, public?:flag:public|是否公开
education | course_enrollment | 选课 | student:person:student|学生, course:keyword:course|课程, semester?:year:year|学年
logistics | shipment | 货运单 | origin:city:origin|起运地, destination:city:destination|目的地, weight_kg:weight_kg:weight|重量:kg|公斤
vehicles | car_rental | 租车订单 | city:city:city|城市, start_date:date:start date|开始日期, days:days:days|天数
events | event_ticket | 活动门票 | event:title:event|活动, quantity:count:number of tickets|数量, date?:date:date|日期
tech | server | 服务器 | hostname:keyword:hostname|主机名, region:city:region|区域, cpu_cores?:int_small:CPU cores|CPU核数
tech | user_account | 用户账号 | username:first_name:username|用户名, email:email:email|邮箱, role?:priority:role|角色
real_estate | property_listing | 房源 | city:city:city|城市, price:principal:price|价格:dollars|元, bedrooms?:int_small:bedrooms|卧室数
insurance | insurance_claim | 理赔申请 | policy_holder:person:policy holder|投保人, amount:amount:claim amount|理赔金额:dollars|元, incident_date:date:incident date|事故日期
fitness | gym_class_booking | 健身课预约 | class_name:sport:class|课程, date:date:date|日期, time:time:time|时间
pets | vet_appointment | 宠物医院预约 | pet_name:first_name:pet's name|宠物名字, date:date:date|日期, reason?:note_text:reason|原因
"""

# (action, what it does with {e}/{z}, which parameters it takes)
ACTIONS = (
    ("create", "create a new {e}", "新建一个{z}", "fields"),
    ("get", "get the details of {a_e}", "查看一个{z}的详情", "id"),
    ("cancel", "cancel {a_e}", "取消一个{z}", "id"),
    ("update", "change the {f} of {a_e}", "修改{z}的{fz}", "id+one"),
    ("search", "search {e}s", "搜索{z}", "filters"),
)


def _hand() -> list[Family]:
    out = []
    for line in filter(None, (l.strip() for l in HAND.strip().splitlines())):
        domain, name, en, zh, spec = (p.strip() for p in line.split("|", 4))
        fid = f"{domain}.{name}"
        out.append(Family(fid, domain, name, {"en": en, "zh": zh}, _params(spec), function=IMPLEMENTED.get(fid),
                          asks=QUESTIONS.get(fid, {})))
    return out


def _composed() -> list[Family]:
    out = []
    for line in filter(None, (l.strip() for l in ENTITIES.strip().splitlines())):
        domain, entity, zh, spec = (p.strip() for p in line.split("|", 3))
        fields = _params(spec)
        e = entity.replace("_", " ")
        ident = ParamSpec(f"{entity.split('_')[-1]}_id", "id", {"en": f"{e} ID", "zh": f"{zh}编号"}, None, True)
        for action, en, zh_does, takes in ACTIONS:
            if takes == "fields":
                params = fields
            elif takes == "id":
                params = (ident,)
            elif takes == "id+one":
                f = next(p for p in fields if p.required and p.kind not in ("date",)) if action else fields[0]
                params = (ident, ParamSpec(f"new_{f.name}", f.kind, {"en": f"new {f.label['en']}",
                                                                     "zh": f"新的{f.label['zh']}"}, f.unit, True))
                en = en.replace("{f}", f.label["en"])
                zh_does = zh_does.replace("{fz}", f.label["zh"])
            else:  # search: the first field required, the rest optional filters, plus a limit
                params = (fields[0],) + tuple(ParamSpec(p.name, p.kind, p.label, p.unit, False) for p in fields[1:3]) \
                    + (ParamSpec("limit", "limit", {"en": "maximum number of results", "zh": "最多结果数"}, None, False),)
            names = {"ID": ident.name} | ({"NEW": params[-1].name} if action == "update" else {})
            out.append(Family(f"{domain}.{action}_{entity}", domain, f"{action}_{entity}",
                              {"en": en.format(e=e, a_e=("an " if e[0] in "aeiou" else "a ") + e),
                               "zh": zh_does.format(z=zh)}, params,
                              asks=composed_forms(action, {"en": e, "zh": zh}, names)))
    return out


FAMILIES: tuple[Family, ...] = tuple(_hand() + _composed())
BY_ID = {f.id: f for f in FAMILIES}
