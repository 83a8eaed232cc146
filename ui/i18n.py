"""Screen words in zh-CN (the default) and English; keys are stable, wording is data."""

from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
    "back": ("返回", "Back"),
    "home": ("首页", "Home"),
    "home_title": ("合格证自助开具", "Certificate kiosk"),
    "demo_title": ("【演示】{title}", "[DEMO] {title}"),
    "buyer_certificate": ("收购转售开证（样式二）", "Re-issue bought produce (style 2)"),
    "sources_title": ("扫描来源合格证", "Scan the source certificates"),
    "sources_prompt": (
        "请逐张扫描供货方合格证上的二维码，扫完点“完成”",
        "Scan the QR code of each supplier's certificate, then tap Done",
    ),
    "sources_none": ("还没有扫描来源合格证", "No source certificate scanned yet"),
    "sources_done": ("完成（已扫{n}张）", "Done ({n} scanned)"),
    "source_twice": ("{number}已经扫过了", "{number} was already scanned"),
    "batch_title": ("本批次总数量（{unit}）", "Quantity of the whole batch ({unit})"),
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
    "phone_format": ("手机号应为11位数字，以1开头", "11 digits, starting with 1"),
    "pin_format": ("密码须为4到8位数字", "PIN: 4 to 8 digits"),
    "skip_pin": ("不设密码，只用卡", "No PIN: card only"),
    "more_chars": ("下一组", "More"),
    "village_title": ("选择您的村", "Choose your village"),
    "card_printing": ("正在打印农户卡", "Printing your producer card"),
    "card_done": ("这是您的农户卡，下次扫它就能开证", "Your producer card: scan it next time"),
    "start_now": ("现在开证", "Issue a certificate now"),
    "pin_mismatch": ("两次密码不一样，请重新输入", "The PINs differ, please start again"),
    "staff_pin": ("{name}，请输入密码", "{name}: enter your PIN"),
    "tech_pin": ("{name}（技术员），请输入密码", "{name} (technician): enter your PIN"),
    "who_title": ("请选择您的名字", "Who are you?"),
    "no_pin_set": (
        "本机还没有这个岗位的账号，请联系县里的技术员添加。",
        "No account for this role on this kiosk; ask the county technician to add one.",
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
    "previous": ("上一页", "Previous"),
    "all_hits": ("全部{n}个", "All {n}"),
    "fact_product": ("产品：{value}", "Product: {value}"),
    "fact_quantity": ("数量：{value}", "Quantity: {value}"),
    "fact_issuer": ("承诺人：{value}", "Issuer: {value}"),
    "fact_basis": ("依据：{value}", "Basis: {value}"),
    "basis_short_quality_control": ("质量安全控制", "quality controls"),
    "basis_short_self_test": ("自行检测合格", "own test passed"),
    "basis_short_commissioned_test": ("委托检测合格", "commissioned test passed"),
    "confirm_spoken": ("{product}，{quantity}，{name}。", "{product}, {quantity}, {name}."),
    "say_again": ("再听一遍", "Say again"),
    "paper_out_title": ("打印机缺纸", "Printer out of labels"),
    "cover_open_title": ("打印机盖子开着", "Printer cover open"),
    "offline_title": ("打印机没有响应", "Printer not answering"),
    "failed_plain": (
        "打印没有完成。请找工作人员检查打印机，再点“继续打印”。",
        "Printing did not finish. Ask staff to check the printer, then tap Continue.",
    ),
    "session_ends": ("{seconds}秒后自动回到首页", "Back to the start in {seconds} s"),
    "done_more": ("继续开证", "Another certificate"),
    "finish": ("结束", "Finish"),
    "idle_title": ("还在吗？", "Still there?"),
    "idle_warning": (
        "好一会儿没有操作了。{seconds}秒后回到首页，已填的内容会清除。",
        "No touch for a while. Back to the start in {seconds} s; your entries will be cleared.",
    ),
    "still_here": ("我还在，继续", "I'm here, continue"),
    "oos_title": ("暂停服务", "Out of service"),
    "oos_offline": (
        "打印机没有连接或没有开机。请工作人员检查打印机的电源和连线。",
        "The printer is not connected or switched off. Staff: check its power and cable.",
    ),
    "oos_offline_title": ("暂停服务：打印机没有连接", "Out of service: no printer"),
    "oos_paper_out": (
        "标签纸用完了。请工作人员装好标签纸。",
        "The printer is out of labels. Staff: load a new roll.",
    ),
    "oos_paper_out_title": ("暂停服务：打印机缺纸", "Out of service: no labels"),
    "oos_cover_open": (
        "打印机盖子开着。请把盖子盖好。",
        "The printer cover is open. Please close it.",
    ),
    "oos_cover_open_title": ("暂停服务：打印机盖子开着", "Out of service: cover open"),
    "oos_error": (
        "打印机报告故障。请工作人员检查打印机。",
        "The printer reports a fault. Staff: check the printer.",
    ),
    "oos_error_title": ("暂停服务：打印机故障", "Out of service: printer fault"),
    "oos_disk_full": (
        "终端存储空间已满，暂时不能开证。请技术员清理或更换存储卡。",
        "The kiosk's storage is full. Technician: free space or replace the card.",
    ),
    "oos_disk_full_title": ("暂停服务：存储空间已满", "Out of service: storage full"),
    "oos_hold": (
        "县里暂停了本机开证（{reason}）。请到乡镇监管站办理。",
        "The county has paused this kiosk ({reason}). Please go to the township station.",
    ),
    "oos_hold_title": ("暂停服务：县里暂停开证", "Out of service: paused by the county"),
    "oos_recovers": (
        "问题解决后，本机会自动恢复，不用重启。",
        "The kiosk comes back by itself once this is fixed.",
    ),
    "call_staff": ("呼叫工作人员", "Call staff"),
    "staff_called": ("已通知工作人员", "Staff called"),
    "cancel": ("取消", "Cancel"),
    "run_cancelled": ("已取消，没有记录结果", "Cancelled; no result recorded"),
    "strip_apply": (
        "把样品滴到试纸条上，再点“已加样，开始计时”。",
        "Apply the sample to the strip, then tap Start timing.",
    ),
    "strip_start": ("已加样，开始计时", "Sample applied: start timing"),
    "run_waiting": ("等待显色：还剩{seconds}秒", "Developing: {seconds} s left"),
    "sim_title": ("模拟设备面板", "Simulated devices"),
    "sim_panel": ("模拟", "Simulate"),
    "sim_card": ("刷农户卡", "Scan a card"),
    "sim_sample": ("扫样品码", "Scan a sample"),
    "sim_paper_out": ("打印机缺纸", "Paper out"),
    "sim_paper_in": ("装好纸", "Load paper"),
    "sim_offline": ("打印机断开", "Printer offline"),
    "sim_online": ("打印机连上", "Printer online"),
    "sim_positive": ("下一个样品阳性", "Next sample positive"),
    "sim_note": ("已模拟：{what}", "Simulated: {what}"),
    "simulated": ("（模拟）", " (simulated)"),
    "job_busy": ("{device}正在工作，请稍候", "{device} is busy, please wait"),
    "hw_printed": ("测试页已打印", "Test page printed"),
    "hw_calibrated": ("校准完成", "Calibration done"),
    "write_name": ("在框里写名字，一次写一个字", "Write your name, one character at a time"),
    "write_here": ("在这里写一个字", "Write one character here"),
    "use_pinyin": ("改用拼音", "Use pinyin"),
    "use_writing": ("改用手写", "Write by hand"),
    "rewrite": ("重写", "Rewrite"),
    "no_recogniser": (
        "手写识别没有安装，请用拼音输入",
        "Handwriting is not installed here: use pinyin",
    ),
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
