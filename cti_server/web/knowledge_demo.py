"""Demo knowledge-base articles (知识库, R-BIZ-3, R-BIZ-9): tariffs as tables and
charts, service outlets, procedures, FAQs and internal wiki pages in Chinese and
English, cross-linked with ``[[slug]]``. Loaded by ``cti_server.store.seed.seed_knowledge``.
The prices and addresses are made up."""

from __future__ import annotations

from typing import Any

ARTICLES: list[dict[str, Any]] = [
    # --- tariffs ------------------------------------------------------------------------
    {
        "slug": "broadband-tariffs-2026",
        "title": "2026 年家庭宽带资费标准",
        "category_id": "inquiry.tariff.broadband",
        "tags": ["宽带", "资费", "套餐"],
        "body": """# 家庭宽带包月套餐
以下价格自 2026 年 1 月 1 日起执行，含税，按自然月计费。

| 速率 | 月费（元） | 年付优惠价（元/年） | 赠送 |
|---|---:|---:|---|
| 100M | 59 | 599 | 光猫租用 |
| 300M | 89 | 899 | 光猫 + 路由器 |
| 500M | 119 | 1199 | 千兆路由器 |
| 1000M | 169 | 1699 | 千兆路由器 + 数字电视基础包 |

```chart
# 月费对比（元/月）
100M | 59
300M | 89
500M | 119
1000M | 169
```

## 说明
- 新装需一次性缴纳安装调试费 **100 元**，年付用户免收。
- 套餐变更次月生效，见 [[change-plan-procedure]]。
- 与数字电视同时办理可享融合优惠，见 [[bundle-tv-broadband]]。
- 老用户续约优惠请查阅 [[retention-offers]]。
""",
    },
    {
        "slug": "broadband-tariffs-2026-en",
        "title": "Home broadband tariffs 2026",
        "category_id": "inquiry.tariff.broadband",
        "tags": ["broadband", "tariff", "price"],
        "body": """# Monthly plans
Prices from 1 January 2026, tax included, billed per calendar month.

| Speed | Monthly fee (CNY) | Yearly prepay (CNY) | Included |
|---|---:|---:|---|
| 100 Mbit/s | 59 | 599 | ONT rental |
| 300 Mbit/s | 89 | 899 | ONT + router |
| 500 Mbit/s | 119 | 1199 | Gigabit router |
| 1000 Mbit/s | 169 | 1699 | Gigabit router + basic TV package |

- Installation fee **CNY 100**, waived for yearly prepay.
- Plan changes take effect the next month: see [[change-plan-procedure]].
- Chinese version: [[broadband-tariffs-2026]].
""",
    },
    {
        "slug": "tv-packages",
        "title": "数字电视节目套餐及价格",
        "category_id": "inquiry.tariff.tv",
        "tags": ["数字电视", "资费", "高清"],
        "body": """# 数字电视套餐
| 套餐 | 频道数 | 月费（元） | 说明 |
|---|---:|---:|---|
| 基础包 | 80 | 26 | 含央视、卫视高清频道 |
| 高清影视包 | 40 | 30 | 需高清机顶盒 |
| 少儿教育包 | 15 | 15 | 可单独订购 |
| 体育包 | 12 | 25 | 含赛事回看 |
| 4K 超清包 | 8 | 20 | 需 4K 机顶盒和电视 |

```chart
# 月费（元）
基础包 | 26
高清影视包 | 30
少儿教育包 | 15
体育包 | 25
4K 超清包 | 20
```

- 增值包可随时订购，按天折算当月费用；退订次月生效，见 [[cancel-service-procedure]]。
- 机顶盒问题请先看 [[faq-stb-no-signal]]。
""",
    },
    {
        "slug": "tv-packages-en",
        "title": "Digital TV packages and prices",
        "category_id": "inquiry.tariff.tv",
        "tags": ["digital TV", "tariff", "HD"],
        "body": """# Packages
| Package | Channels | Monthly fee (CNY) |
|---|---:|---:|
| Basic | 80 | 26 |
| HD movies | 40 | 30 |
| Kids and education | 15 | 15 |
| Sports | 12 | 25 |
| 4K UHD | 8 | 20 |

Add-on packages can be ordered any day (pro rata for the month). Cancelling takes
effect next month: [[cancel-service-procedure]]. Set-top box trouble: [[faq-stb-no-signal]].
""",
    },
    {
        "slug": "bundle-tv-broadband",
        "title": "宽带 + 电视融合套餐",
        "category_id": "inquiry.tariff",
        "tags": ["融合", "套餐", "优惠"],
        "body": """# 融合套餐
同时办理宽带和数字电视，月费合计优惠如下：

| 组合 | 原价（元/月） | 融合价（元/月） | 节省 |
|---|---:|---:|---:|
| 300M + 基础包 | 115 | 99 | 16 |
| 500M + 基础包 + 高清影视包 | 175 | 139 | 36 |
| 1000M + 基础包 + 4K 超清包 | 215 | 179 | 36 |

合约期 12 个月，提前解约需补交已享受的优惠差额。宽带单价见 [[broadband-tariffs-2026]]，
电视单价见 [[tv-packages]]。
""",
    },
    {
        "slug": "prepaid-account",
        "title": "预付费账户开通与充值",
        "category_id": "acceptance.prepaid",
        "tags": ["预付费", "充值"],
        "body": """# 预付费账户
1. 核实客户身份证件及服务密码。
2. 在受理页面选择“开通预付费账户”，首次预存不少于 **50 元**。
3. 余额低于 10 元时系统发送提醒短信；余额为零次日暂停服务。

充值方式见 [[payment-methods]]，充值卡使用见 [[recharge-card]]。
""",
    },
    # --- outlets --------------------------------------------------------------------------
    {
        "slug": "outlets-shanghai",
        "title": "上海营业厅地址及营业时间",
        "category_id": "inquiry.outlet",
        "tags": ["营业厅", "上海", "地址"],
        "company": "上海",
        "visibility": "shared",
        "shared_with": ["深圳"],
        "body": """# 上海营业网点
| 营业厅 | 地址 | 营业时间 | 电话 |
|---|---|---|---|
| 徐汇中心营业厅 | 徐汇区漕溪北路 88 号 | 09:00–18:00（周一至周日） | 021-6400 1000 |
| 浦东旗舰营业厅 | 浦东新区世纪大道 1200 号 | 09:00–20:00 | 021-5800 2000 |
| 静安营业厅 | 静安区南京西路 1518 号 | 09:30–17:30（周一至周六） | 021-6200 3000 |
| 闵行营业厅 | 闵行区莘庄镇都市路 500 号 | 09:00–17:00 | 021-5400 4000 |

> 法定节假日营业时间以门店公告为准。办理过户、销户须本人持证到厅，见 [[transfer-ownership]]。
""",
    },
    {
        "slug": "outlets-shenzhen",
        "title": "深圳营业厅地址及营业时间",
        "category_id": "inquiry.outlet",
        "tags": ["营业厅", "深圳", "地址"],
        "company": "深圳",
        "visibility": "company",
        "body": """# 深圳营业网点
| 营业厅 | 地址 | 营业时间 |
|---|---|---|
| 福田中心营业厅 | 福田区深南大道 6008 号 | 09:00–18:00 |
| 南山科技园营业厅 | 南山区科苑路 15 号 | 09:00–19:00 |
| 龙岗营业厅 | 龙岗区龙城大道 99 号 | 09:00–17:30 |

仅供深圳分公司使用。上海网点见 [[outlets-shanghai]]。
""",
    },
    {
        "slug": "outlets-en",
        "title": "Service outlets: what can be done where",
        "category_id": "inquiry.outlet",
        "tags": ["outlet", "store", "opening hours"],
        "body": """# Service outlets
Every outlet handles new services, plan changes, payments and set-top box swaps.
Ownership transfer and account closure need the account holder in person with ID:
see [[transfer-ownership]].

- Shanghai addresses: [[outlets-shanghai]]
- Shenzhen addresses: [[outlets-shenzhen]] (Shenzhen staff only)
- Self-service terminals take cash and bank cards 24/7 in the flagship outlets.
""",
    },
    # --- procedures -----------------------------------------------------------------------
    {
        "slug": "new-broadband-procedure",
        "title": "宽带新装办理流程",
        "category_id": "acceptance.apply",
        "tags": ["新装", "宽带", "流程"],
        "body": """# 宽带新装
1. 核实地址是否在覆盖范围内（系统“资源查询”）。
2. 介绍套餐，参考 [[broadband-tariffs-2026]]。
3. 登记客户姓名、证件号码、联系电话、安装地址，提交受理。
4. 系统生成装机工单，派至所属区域装维班组；**48 小时内**上门安装。
5. 安装完成后 3 天内回访满意度。

无法覆盖的地址：登记预约，覆盖后主动联系客户（业务预约）。
""",
    },
    {
        "slug": "new-broadband-procedure-en",
        "title": "Procedure: new broadband connection",
        "category_id": "acceptance.apply",
        "tags": ["new service", "broadband", "procedure"],
        "body": """# New broadband connection
1. Check that the address is covered (resource lookup).
2. Offer a plan: [[broadband-tariffs-2026-en]].
3. Record name, ID number, contact number and address; confirm the acceptance.
4. An installation work order goes to the area's field team; installation within **48 hours**.
5. Satisfaction follow-up within 3 days.
""",
    },
    {
        "slug": "change-plan-procedure",
        "title": "套餐变更办理流程",
        "category_id": "acceptance.plan",
        "tags": ["变更", "套餐", "流程"],
        "body": """# 套餐变更
- 升档（提速）：受理后 **2 小时内**生效，当月按天折算。
- 降档：次月 1 日生效。
- 合约期内降档需补交优惠差额，见 [[bundle-tv-broadband]]。

步骤：核实服务密码 → 选择“资费及缴费方式变更” → 选择新套餐 → 确认。
价格参考 [[broadband-tariffs-2026]]。
""",
    },
    {
        "slug": "cancel-service-procedure",
        "title": "业务注销（销户）流程",
        "category_id": "acceptance.cancel",
        "tags": ["注销", "销户", "退订"],
        "body": """# 业务注销
1. 先了解注销原因，按 [[retention-offers]] 尝试挽留。
2. 结清欠费；预存款余额可退还至原付款账户。
3. 归还光猫、机顶盒等租用设备（营业厅或上门回收）。
4. 销户须本人持证到营业厅办理，见 [[outlets-en]]。

增值包退订可电话办理，次月生效。
""",
    },
    {
        "slug": "transfer-ownership",
        "title": "过户办理所需材料",
        "category_id": "acceptance.change",
        "tags": ["过户", "材料"],
        "body": """# 过户
原户主和新户主**双方本人**持有效身份证件到营业厅办理；结清过户前费用。
委托办理需提供委托书及双方证件复印件。

网点地址：[[outlets-shanghai]]。
""",
    },
    {
        "slug": "fault-report-procedure",
        "title": "故障报修受理流程",
        "category_id": "complaint.fault",
        "tags": ["故障", "报修", "工单"],
        "body": """# 故障报修
1. 先按 [[faq-broadband-slow]] 或 [[faq-stb-no-signal]] 引导客户自助排查。
2. 仍未解决：建故障工单，记录现象、时间、已做的排查。
3. 工单时限：普通故障 24 小时修复，紧急（整片区中断）4 小时。
4. 大面积故障由班长发布“重大故障”通知，座席统一口径回复。
""",
    },
    {
        "slug": "complaint-handling",
        "title": "Handling service complaints",
        "category_id": "complaint.service",
        "tags": ["complaint", "procedure", "escalation"],
        "body": """# Service complaints
1. Listen, apologise once, and restate the complaint in the customer's words.
2. Open a complaint work order (service complaint); the provincial centre answers
   within **2 working days**.
3. Billing disputes go to [[billing-dispute]].
4. Promise only what the procedure allows; never quote a compensation amount.

> Escalate to the team lead when the customer asks for a supervisor,
> or mentions the media or a regulator.
""",
    },
    {
        "slug": "billing-dispute",
        "title": "账务争议处理",
        "category_id": "complaint.billing",
        "tags": ["账单", "争议", "退费"],
        "body": """# 账务争议
- 核实账单明细（账单查询），向客户逐项解释。
- 确属计费错误：建账务争议工单，省中心 2 个工作日内核实，退费计入下月账单。
- 对价格有疑问先查 [[broadband-tariffs-2026]] 与 [[tv-packages]]。
""",
    },
    # --- payment --------------------------------------------------------------------------
    {
        "slug": "payment-methods",
        "title": "缴费方式一览",
        "category_id": "payment",
        "tags": ["缴费", "支付"],
        "body": """# 缴费方式
| 方式 | 到账时间 | 手续费 |
|---|---|---:|
| 营业厅现金 / 银行卡 | 实时 | 0 |
| 微信 / 支付宝 | 实时 | 0 |
| 银行代扣 | 每月 5 日扣款 | 0 |
| 充值卡 | 实时 | 0 |

充值卡使用方法见 [[recharge-card]]；欠费停机后缴清费用 **2 小时内**自动复机。
""",
    },
    {
        "slug": "recharge-card",
        "title": "充值卡充值方法",
        "category_id": "payment.card",
        "tags": ["充值卡", "充值"],
        "body": """# 充值卡
1. 拨打客服热线，按语音提示选择“充值”。
2. 输入 16 位卡密和要充值的客户号码。
3. 充值成功后语音播报余额，并发送短信。

卡密无效或已使用：核实卡号后建工单，不要在电话中重复读出卡密。
""",
    },
    {
        "slug": "payment-receipts-en",
        "title": "Receipts and invoices",
        "category_id": "payment.receipt",
        "tags": ["receipt", "invoice", "payment"],
        "body": """# Receipts
Electronic invoices are sent by SMS link within 24 hours of a payment. Paper receipts
are printed at any outlet ([[outlets-en]]). Payment channels: [[payment-methods]].
""",
    },
    # --- FAQs -----------------------------------------------------------------------------
    {
        "slug": "faq-broadband-slow",
        "title": "常见问题：宽带网速慢怎么办",
        "category_id": "inquiry.faq",
        "tags": ["网速", "宽带", "故障"],
        "body": """# 宽带网速慢
1. 用网线直连电脑测速，排除 WiFi 干扰（2.4G 信号穿墙差，建议 5G 频段）。
2. 重启光猫和路由器（断电 30 秒）。
3. 检查是否有设备在大量下载。
4. 测速仍低于签约速率的 80%：按 [[fault-report-procedure]] 建故障工单。

套餐速率见 [[broadband-tariffs-2026]]。
""",
    },
    {
        "slug": "faq-broadband-slow-en",
        "title": "FAQ: my broadband is slow",
        "category_id": "inquiry.faq",
        "tags": ["speed", "broadband", "wifi"],
        "body": """# Slow broadband
1. Test with a cable, not WiFi; 5 GHz WiFi is faster than 2.4 GHz.
2. Restart the ONT and the router (30 seconds without power).
3. Check for devices downloading in the background.
4. Still below 80% of the plan's speed: open a fault work order ([[fault-report-procedure]]).
""",
    },
    {
        "slug": "faq-stb-no-signal",
        "title": "常见问题：机顶盒显示“无信号”",
        "category_id": "complaint.fault.tv",
        "tags": ["机顶盒", "无信号", "电视"],
        "body": """# 机顶盒无信号
- 检查射频线是否松动，机顶盒指示灯是否亮。
- 电视信号源是否选在 HDMI / AV。
- 智能卡是否插好；提示“E04”为未授权，多为欠费，见 [[payment-methods]]。
- 同小区多户无信号：可能是片区故障，查看当日通知通告。

仍无法解决按 [[fault-report-procedure]] 报修。
""",
    },
    {
        "slug": "faq-password-reset",
        "title": "FAQ: resetting the service password",
        "category_id": "inquiry.faq",
        "tags": ["password", "service password", "security"],
        "body": """# Service password
The six-digit service password protects billing and customer-data queries.

- Reset by phone: only after verifying the ID number **and** the registered mobile number.
- Reset at an outlet with ID: [[outlets-en]].
- Never read a password back to a caller; never send it by SMS.
""",
    },
    {
        "slug": "faq-move-house",
        "title": "常见问题：搬家后宽带怎么移机",
        "category_id": "inquiry.faq",
        "tags": ["移机", "搬家", "宽带"],
        "body": """# 移机
新地址在覆盖范围内可办理移机，收取移机费 **50 元**（合约用户免费一次）。
预约后 48 小时内上门。新地址无法覆盖可办理注销且不收违约金，见 [[cancel-service-procedure]]。
""",
    },
    {
        "slug": "faq-bill-explained",
        "title": "FAQ: reading the monthly bill",
        "category_id": "query.billing",
        "tags": ["bill", "billing", "charges"],
        "body": """# The monthly bill
| Line | Meaning |
|---|---|
| Package fee | the monthly plan ([[broadband-tariffs-2026-en]], [[tv-packages-en]]) |
| Add-ons | extra TV packages, pro rata in the first month |
| Equipment | router or set-top box rental |
| Adjustments | refunds from [[billing-dispute]] |
""",
    },
    # --- marketing and care -----------------------------------------------------------------
    {
        "slug": "retention-offers",
        "title": "老用户挽留与续约优惠",
        "category_id": "care.retention",
        "tags": ["挽留", "续约", "优惠"],
        "body": """# 挽留话术与优惠
| 客户情况 | 可提供的优惠 |
|---|---|
| 在网满 2 年，提出注销 | 续约 12 个月享 8 折 |
| 嫌网速慢 | 免费提速一档 3 个月 |
| 嫌价格高 | 推荐 [[bundle-tv-broadband]] |

优惠由班长审批，座席不得承诺表格外的条件。
""",
    },
    {
        "slug": "spring-campaign",
        "title": "Spring campaign: 1000M for the price of 500M",
        "category_id": "marketing.campaign",
        "tags": ["campaign", "promotion", "1000M"],
        "body": """# Spring campaign (March–May)
New and existing customers upgrading to 1000 Mbit/s pay the 500 Mbit/s price (CNY 119)
for the first six months. Regular prices: [[broadband-tariffs-2026-en]].
""",
    },
    # --- internal wiki (no category) ----------------------------------------------------------
    {
        "slug": "wiki-desktop-shortcuts",
        "title": "Agent desktop: keyboard shortcuts",
        "tags": ["desktop", "wiki", "shortcuts"],
        "body": """# Shortcuts
| Key | Action |
|---|---|
| F2 | answer |
| F3 | hold / retrieve |
| F4 | transfer |
| F8 | ready / not ready |
| Ctrl+K | search the knowledge base |

The knowledge base opens from the desktop as `/ui/kb?q=…`; see [[wiki-kb-writing]].
""",
    },
    {
        "slug": "wiki-kb-writing",
        "title": "知识库编写规范",
        "tags": ["知识库", "规范", "wiki"],
        "body": """# 编写规范
- 标题写客户会问的话，例如“宽带网速慢怎么办”。
- 价格、地址用表格；趋势用图表（```chart 代码块）。
- 用 `[[文章地址]]` 链接相关文章，例如 [[broadband-tariffs-2026]]。
- 每次保存都会生成新版本，可在“历史版本”中比较和恢复。
- 修改价格后点“保存并发布”，座席页面会提示有新版本。
""",
    },
    {
        "slug": "wiki-shift-handover",
        "title": "班组交接班规定",
        "tags": ["交接班", "班组", "wiki"],
        "body": """# 交接班
1. 交班前 10 分钟整理未完成工单，在工单备注中写明进展。
2. 班长核对重大故障通知是否仍然有效。
3. 接班座席登录后先阅读当日通知通告和 [[wiki-kb-writing]] 中的更新。
""",
    },
]
