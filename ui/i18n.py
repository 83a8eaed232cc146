"""Screen words in zh-CN (the default) and English; keys are stable, wording is data."""

from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
    "back": ("返回", "Back"),
    "home": ("首页", "Home"),
    "home_title": ("合格证自助开具", "Certificate kiosk"),
    "home_prompt": ("请扫农户卡或主体码", "Scan your producer card or code"),
    "start_phone": ("用手机号进入", "Use phone number"),
    "register": ("第一次来：登记", "First time: register"),
    "staff": ("工作人员", "Staff"),
    "technician": ("技术员", "Service"),
    "language": ("English", "中文"),
    "sound_on": ("声音开", "Sound on"),
    "sound_off": ("声音关", "Sound off"),
    "phone_title": ("输入手机号", "Enter phone number"),
    "pin_title": ("输入密码", "Enter PIN"),
    "pin_again": ("再输一次密码", "Enter the PIN again"),
    "ok": ("确定", "OK"),
    "clear": ("删除", "Delete"),
    "unknown_phone": (
        "这个手机号还没有登记。请点“第一次来：登记”，或请工作人员帮忙。",
        "This phone number is not registered. Tap “First time: register” or ask staff.",
    ),
    "wrong_pin": (
        "密码不对，请再试一次（还可以试{left}次）。忘记密码请找工作人员。",
        "Wrong PIN, try again ({left} tries left). Forgot it? Ask staff.",
    ),
    "locked": (
        "密码错误次数太多，请{minutes}分钟后再试，或找工作人员。",
        "Too many wrong PINs. Try again in {minutes} min or ask staff.",
    ),
    "unknown_card": (
        "这张卡或这个码本机不认识。请用手机号进入，或找工作人员登记。",
        "This card or code is not known here. Use your phone number or ask staff.",
    ),
    "hello": ("{name}，您好", "Hello, {name}"),
    "repeat_last": ("再开一张：{product} {quantity}", "Same again: {product} {quantity}"),
    "new_certificate": ("开新的合格证", "New certificate"),
    "product_title": ("卖什么？", "What are you selling?"),
    "search": ("拼音首字母查找", "Search by pinyin"),
    "search_title": ("输入拼音首字母", "Type pinyin initials"),
    "no_match": ("没有找到，请换个字母", "Nothing found, try other letters"),
    "more": ("下一页", "More"),
    "quantity_title": ("多少{product}？", "How much {product}?"),
    "use_scale": ("用秤上的重量 {weight}", "Use scale: {weight}"),
    "scale_waiting": ("秤在称重，请稍等", "Scale settling, please wait"),
    "inputs_title": ("这批用过什么药？", "What was used on this batch?"),
    "inputs_nothing": ("什么都没用", "Nothing"),
    "inputs_done": ("选好了", "Done"),
    "basis_title": ("凭什么承诺？", "Basis of the commitment"),
    "basis_quality_control": ("按规定用药，质量安全控制符合要求", "Quality safety controls met"),
    "basis_self_test": ("用本站快检合格结果（{ref}）", "Use passing rapid test ({ref})"),
    "confirm_title": ("请看一看，对了就打印", "Check the label, then print"),
    "copies": ("打印{n}张", "Print {n}"),
    "print": ("打印", "Print"),
    "printing": ("正在打印：第{done}张，共{total}张", "Printing {done} of {total}"),
    "printing_wait": ("正在打印，请稍等", "Printing, please wait"),
    "take_labels": ("请取走标签", "Please take your labels"),
    "done_more": ("再开一张", "Another one"),
    "paper_out": (
        "标签纸用完了，已打印{done}张。请工作人员换纸，换好后点“继续打印”。",
        "Out of labels after {done}. Ask staff to load paper, then tap Continue.",
    ),
    "cover_open": (
        "打印机盖子开着。请盖好，再点“继续打印”。",
        "The printer cover is open. Close it, then tap Continue.",
    ),
    "offline": (
        "打印机没有响应。请工作人员检查电源和连线，再点“继续打印”。",
        "The printer does not answer. Ask staff to check it, then tap Continue.",
    ),
    "continue_print": ("继续打印", "Continue printing"),
    "refused_title": ("现在不能开证", "Cannot issue now"),
    "problem_title": ("请改一下", "Please correct this"),
    "ask_staff": ("需要帮助请找工作人员", "Ask staff if you need help"),
    "name_title": ("输入姓名（拼音）", "Your name (pinyin)"),
    "village_title": ("选择您的村", "Choose your village"),
    "card_printing": ("正在打印农户卡", "Printing your producer card"),
    "card_done": ("这是您的农户卡，下次扫它就能开证", "Your producer card: scan it next time"),
    "start_now": ("现在开证", "Issue a certificate now"),
    "pin_mismatch": ("两次密码不一样，请重新输入", "The PINs differ, please start again"),
    "staff_pin": ("工作人员密码", "Staff PIN"),
    "tech_pin": ("技术员密码", "Technician PIN"),
    "no_pin_set": (
        "本机还没有设置这个密码，请联系县里的技术员。",
        "No PIN set on this kiosk; call the county technician.",
    ),
    "staff_title": ("快检工作台", "Rapid tests"),
    "register_sample": ("登记样品", "Register sample"),
    "start_run": ("开始检测", "Start a run"),
    "results": ("检测记录", "Results"),
    "holds": ("暂停开证名单", "Open holds"),
    "sample_title": ("扫样品条码，或打印新条码", "Scan a sample barcode or print one"),
    "new_barcode": ("打印新条码", "Print new barcode"),
    "sample_producer": (
        "样品{sample}：扫农户卡或输入手机号",
        "Sample {sample}: scan card or phone",
    ),
    "sample_saved": (
        "样品{sample}已登记：{product}，{name}",
        "Sample {sample} registered: {product}, {name}",
    ),
    "method_title": ("选择检测方法", "Choose the method"),
    "assign_title": (
        "点样品放入通道{channel}（通道{control}为对照）",
        "Tap a sample for channel {channel} (control: {control})",
    ),
    "run_start": ("开始（{n}个样品）", "Start ({n} samples)"),
    "no_samples": ("没有待测样品，请先登记", "No samples waiting: register first"),
    "run_title": ("检测中", "Measuring"),
    "run_left": ("剩余{seconds}秒", "{seconds} s left"),
    "result_title": ("检测结果", "Results"),
    "verdict_negative": ("阴性（合格）", "Negative (pass)"),
    "verdict_suspicious": ("可疑：须复检", "Suspicious: re-test"),
    "verdict_positive": ("阳性：已暂停开证", "Positive: issuing held"),
    "verdict_invalid": ("无效：请重做", "Invalid: repeat"),
    "print_report": ("打印检测报告", "Print report"),
    "retest": ("复检", "Re-test"),
    "no_holds": ("没有暂停开证的产品", "No open holds"),
    "tech_title": ("设备状态", "Device status"),
    "test_print": ("测试打印", "Test print"),
    "scanner_test": ("扫码测试", "Scanner test"),
    "calibrate": ("读数仪校准", "Calibrate reader"),
    "logs": ("最近日志", "Recent logs"),
    "scan_something": ("请扫任意条码", "Scan any barcode"),
    "scanned": ("扫到：{code}", "Scanned: {code}"),
    "done": ("完成", "Done"),
    "failed": ("失败：{error}", "Failed: {error}"),
    "busy": ("请稍等", "Please wait"),
}


class I18n:
    """The current language; ``t(key, **values)`` formats the string for it."""

    LANGUAGES = ("zh-CN", "en")

    def __init__(self, language: str = "zh-CN") -> None:
        self.language = language if language in self.LANGUAGES else "zh-CN"

    @property
    def is_en(self) -> bool:
        return self.language == "en"

    def toggle(self) -> None:
        self.language = "en" if self.language == "zh-CN" else "zh-CN"

    def t(self, key: str, **values: object) -> str:
        zh, en = STRINGS[key]
        return (en if self.is_en else zh).format(**values)

    def name(self, zh: str, en: str) -> str:
        """A catalogue name in the current language."""
        return en if self.is_en and en else zh
