"""The ledger formats (DOMAIN.md §3) as data: which headers name which column and how each is typed.

Task-ledger formats come from the plan's lists (`task_formats`); the lending, no-loan and guarantee ledgers are
fixed reporting formats and are described here once, for reading, for templates and for demo data alike.
The first header of each column is the official one.
"""

from __future__ import annotations

from functools import lru_cache

from ..plan.model import Plan
from .tables import META_LABELS, Column, SheetFormat

STATUS_CHOICES = {
    "已完成": "已完成", "完成": "已完成", "已办结": "已完成",
    "正常推进": "正常推进", "推进中": "正常推进", "正常": "正常推进", "进行中": "正常推进", "按计划推进": "正常推进",
    "滞后": "滞后", "进度滞后": "滞后", "滞后推进": "滞后",
    "未启动": "未启动", "未开始": "未启动", "尚未启动": "未启动",
}
STATUSES = ("已完成", "正常推进", "滞后", "未启动")
DONE, ON_TRACK, LATE, NOT_STARTED = STATUSES

UNIT_LABEL = META_LABELS["unit"][0]      # 填报单位
DATE_LABEL = META_LABELS["date"][0]      # 填报日期
CONTACT_LABEL = META_LABELS["contact"][0]  # 联系人
PHONE_LABEL = META_LABELS["phone"][0]      # 联系电话

TASK_COLUMN_KINDS = {"no": "text", "status": "choice"}
# columns units add although their list has none: read as evidence for matching a row to its task
TASK_EVIDENCE_COLUMNS = {"lead": ("牵头单位", "牵头部门")}
TASK_COLUMN_EXTRA_HEADERS = {
    "no": ("编号", "序 号"),
    "text": ("主要任务", "工作任务", "任务内容", "工作内容"),
    "progress": ("双周进展情况", "进展情况", "工作进展", "进展"),
    "status": ("进展状态", "状态", "完成状态"),
    "group": ("工作要求", "工作事项", "重点工作"),
    "deadline": ("完成时限", "时间节点", "完成时间"),
}


@lru_cache(maxsize=16)
def task_formats(plan: Plan) -> tuple[SheetFormat, ...]:
    """One format per task list of the plan, with the list's official headers first (built once per plan, so the
    header matching caches keyed on a format stay warm)."""
    formats = []
    for lst in plan.lists:
        columns = []
        for role, header in lst.columns.items():
            headers = (header, *[h for h in TASK_COLUMN_EXTRA_HEADERS.get(role, ()) if h != header])
            columns.append(
                Column(
                    role=role,
                    headers=headers,
                    kind=TASK_COLUMN_KINDS.get(role, "text"),
                    required=role in ("no", "text"),
                    choices=STATUS_CHOICES if role == "status" else None,
                    label=header,
                )
            )
        for role, headers in TASK_EVIDENCE_COLUMNS.items():
            if role not in lst.columns:
                columns.append(Column(role=role, headers=headers, label=headers[0]))
        formats.append(SheetFormat(kind="task", name=lst.name, columns=tuple(columns), min_match=3))
    return tuple(formats)


GUARANTEE_METHODS = {
    "信用": "信用", "信用贷款": "信用", "纯信用": "信用",
    "保证": "保证", "担保": "保证", "保证担保": "保证",
    "抵押": "抵押", "抵押担保": "抵押",
    "质押": "质押", "质押担保": "质押",
    "组合": "组合", "组合担保": "组合", "抵押+保证": "组合", "保证+抵押": "组合",
}
BORROWER_TYPES = {
    "小微企业": "小微企业", "小型企业": "小微企业", "微型企业": "小微企业",
    "个体工商户": "个体工商户", "个体户": "个体工商户",
    "小微企业主": "小微企业主",
    "农户": "农户",
    "其他": "其他",
}
NOLOAN_TYPES = {"小微企业": "小微企业", "个体工商户": "个体工商户", "个体户": "个体工商户"}
APPLICATION_RESULTS = {"授信": "授信", "已授信": "授信", "同意": "授信", "拒绝": "拒绝", "未通过": "拒绝",
                       "办理中": "办理中", "审批中": "办理中", "受理中": "办理中"}
GUARANTEE_TYPES = {
    "小微企业": "小微企业", "个体工商户": "个体工商户", "个体户": "个体工商户",
    "三农": "三农", "“三农”": "三农", "战略性新兴产业": "战略性新兴产业", "战新产业": "战略性新兴产业",
    "其他": "其他",
}

BANK_SUMMARY = SheetFormat(
    kind="lending",
    name="主要指标",
    min_match=4,
    columns=(
        Column("bank", ("机构名称", "银行名称", "金融机构", "单位名称"), required=True),
        Column("total_loans", ("各项贷款余额",), "amount", required=True),
        Column("credit_loans", ("信用贷款余额",), "amount"),
        Column("credit_households", ("信用贷款户数",), "int"),
        Column("sme_loans", ("普惠型小微企业贷款余额",), "amount"),
        Column("sme_households", ("普惠型小微企业贷款户数",), "int"),
        Column("sme_loans_last_year", ("普惠型小微企业贷款上年同期余额",), "amount"),
        Column("sme_loans_year_start", ("普惠型小微企业贷款年初余额",), "amount"),
        Column("first_loan_households_reported", ("首贷户数（当年累计）", "首贷户数"), "int"),
        Column("renewal_balance", ("无还本续贷余额",), "amount"),
        Column("sme_long_term_loans", ("小微企业中长期贷款余额",), "amount"),
        Column("transfer_pricing_bp", ("小微企业内部转移定价优惠（BP）", "内部转移定价优惠"), "number"),
        Column("credit_loans_year_start", ("信用贷款年初余额",), "amount"),
        Column("total_loans_year_start", ("各项贷款年初余额",), "amount"),
    ),
)

LOANS = SheetFormat(
    kind="lending",
    name="贷款明细",
    min_match=5,
    columns=(
        Column("borrower", ("借款人名称", "借款人", "客户名称"), required=True),
        Column("borrower_id", ("证件号码", "统一社会信用代码", "身份证号码", "证件号"), "id", required=True),
        Column("borrower_type", ("借款人类型", "客户类型"), "choice", choices=BORROWER_TYPES),
        Column("county", ("所属县区", "所属县（区）", "县区")),
        Column("loan_date", ("发放日期", "放款日期"), "date", required=True),
        Column("maturity_date", ("到期日期",), "date"),
        Column("amount", ("发放金额", "贷款金额"), "amount", required=True),
        Column("credit_line", ("单户授信总额", "授信总额"), "amount"),
        Column("guarantee_method", ("担保方式",), "choice", choices=GUARANTEE_METHODS),
        Column("is_first_loan", ("是否首贷户",), "bool"),
        Column("is_renewal", ("是否无还本续贷",), "bool"),
        Column("interest_rate", ("执行利率（%）", "执行利率", "贷款利率"), "rate"),
    ),
)

APPLICATIONS = SheetFormat(
    kind="lending",
    name="首贷申请",
    min_match=4,
    columns=(
        Column("applicant", ("申请人名称", "申请人"), required=True),
        Column("applicant_id", ("证件号码", "统一社会信用代码"), "id", required=True),
        Column("applied_on", ("申请日期",), "date", required=True),
        Column("replied_on", ("回复日期", "答复日期"), "date"),
        Column("result", ("结果", "办理结果"), "choice", choices=APPLICATION_RESULTS),
    ),
)

NOLOAN_LIST = SheetFormat(
    kind="noloan",
    name="无贷户名单",
    min_match=4,
    columns=(
        Column("name", ("名称", "市场主体名称", "企业名称"), required=True),
        Column("entity_id", ("证件号码", "统一社会信用代码"), "id", required=True),
        Column("entity_type", ("类型", "主体类型"), "choice", choices=NOLOAN_TYPES),
        Column("county", ("所属县区", "所属县（区）", "县区")),
        Column("industry", ("行业", "所属行业")),
        Column("need", ("融资需求（万元）", "融资需求"), "amount"),
        Column("pushed_to", ("推送银行",)),
    ),
)

GUARANTEE_SUMMARY = SheetFormat(
    kind="guarantee",
    name="机构概况",
    min_match=4,
    columns=(
        Column("institution", ("机构名称",), required=True),
        Column("registered_capital", ("注册资本",), "amount", required=True),
        Column("net_assets", ("净资产",), "amount", required=True),
        Column("in_force_balance", ("在保余额",), "amount"),
        Column("in_force_count", ("在保户数",), "int"),
        Column("new_this_year", ("本年新增担保金额",), "amount"),
        Column("compensated_this_year", ("本年代偿金额",), "amount"),
        Column("released_this_year", ("本年解除担保金额",), "amount"),
    ),
)

GUARANTEES = SheetFormat(
    kind="guarantee",
    name="担保明细",
    min_match=5,
    columns=(
        Column("guaranteed", ("被担保人", "被担保人名称"), required=True),
        Column("guaranteed_id", ("证件号码", "统一社会信用代码"), "id", required=True),
        Column("guaranteed_type", ("类型", "客户类型"), "choice", choices=GUARANTEE_TYPES),
        Column("amount", ("担保金额",), "amount", required=True),
        Column("fee_rate", ("担保费率（%）", "担保费率"), "rate"),
        Column("partner_bank", ("合作银行",)),
        Column("start_date", ("起始日期", "开始日期"), "date", required=True),
        Column("end_date", ("到期日期", "结束日期"), "date", required=True),
        Column("risk_share", ("分险比例（%）", "分险比例"), "rate"),
    ),
)

# The 指标 sheet of a task ledger: the plan's targets a unit reports itself (plan `source: {reported_by: …}`).
# 本期数值 is read as text and typed by the target's unit of measure (`reported_targets.parse_reported_value`).
TARGET_SHEET = SheetFormat(
    kind="task",
    name="指标",
    min_match=3,
    columns=(
        Column("target_id", ("目标代码", "指标代码"), required=True),
        Column("text", ("目标", "目标内容", "指标名称")),
        Column("measure_unit", ("计量单位",)),
        Column("due", ("到期日", "目标时限")),
        Column("value", ("本期数值", "本期值", "数值"), required=True),
        Column("note", ("说明", "备注")),
    ),
)

FIXED_FORMATS: tuple[SheetFormat, ...] = (BANK_SUMMARY, LOANS, APPLICATIONS, NOLOAN_LIST, GUARANTEE_SUMMARY, GUARANTEES)
LEDGER_KIND_LABELS = {"task": "任务进展台账", "lending": "信贷数据台账", "noloan": "无贷户名单", "guarantee": "担保业务台账"}


def all_formats(plan: Plan) -> tuple[SheetFormat, ...]:
    """Task formats of the plan, the 指标 sheet when units report targets, then the fixed formats of the ledger
    kinds the plan expects."""
    fixed = tuple(f for f in FIXED_FORMATS if f.kind in plan.ledgers)
    targets = (TARGET_SHEET,) if "task" in plan.ledgers and plan.reported_targets() else ()
    return (*task_formats(plan), *targets, *fixed)
