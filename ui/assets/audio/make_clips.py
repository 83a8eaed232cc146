"""Regenerate the spoken prompts with espeak-ng and sox (apt-get install espeak-ng sox).

Clips are 16000 Hz, 16-bit mono WAV: clear enough for an elderly listener over a kiosk's
small speaker (8 kHz 8-bit was not), loadable by any SDL_mixer.
    .venv/bin/python ui/assets/audio/make_clips.py
"""

import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
CLIPS = {
    "welcome": (
        "您好，请扫农户卡，或者用手机号进入。",
        "Welcome. Scan your card or use your phone number.",
    ),
    "identify": ("请输入。", "Please enter."),
    "product": ("您卖的是什么？请点图片。", "What are you selling? Tap a picture."),
    "quantity": ("有多少？请输入数量。", "How much? Enter the quantity."),
    "inputs": (
        "这批用过什么药？没用请点什么都没用。",
        "What was used on this batch? Tap nothing if none.",
    ),
    "basis": ("请选择承诺依据。", "Choose the basis of your commitment."),
    "confirm": ("请看一看，对了就点打印。", "Check the label, then tap print."),
    "commitment": (
        "我承诺对销售的食用农产品：不使用禁用农药兽药及其他化合物，"
        "使用的常规农药兽药残留不超标，对承诺的真实性负责。",
        "I promise not to use banned pesticides or veterinary drugs, that residues are "
        "within limits, and that this commitment is true.",
    ),
    "printing": ("正在打印，请稍等。", "Printing, please wait."),
    "take_labels": ("打印好了，请取走标签。", "Done. Please take your labels."),
    "refused": ("现在不能开证，请看屏幕上的说明。", "Cannot issue now. Please read the screen."),
    "paper_out": ("标签纸用完了，请找工作人员。", "Out of labels. Please ask staff."),
    "idle_warning": (
        "好一会儿没有操作了。还要继续，请点我还在。",
        "No touch for a while. To go on, tap I'm here.",
    ),
    "out_of_service": (
        "本机暂停服务，请看屏幕上的说明，或者点呼叫工作人员。",
        "This kiosk is out of service. Read the screen or tap Call staff.",
    ),
    "write_name": (
        "请在框里写您的名字，一次写一个字。",
        "Write your name in the box, one character at a time.",
    ),
}
RATE_HZ = 16000
BITS = 16


def main() -> None:
    for lang, voice, index in (("zh", "cmn", 0), ("en", "en", 1)):
        out = HERE / lang
        out.mkdir(exist_ok=True)
        for key, texts in CLIPS.items():
            with tempfile.NamedTemporaryFile(suffix=".wav") as raw:
                subprocess.run(
                    ["espeak-ng", "-v", voice, "-s", "140", "-w", raw.name, texts[index]],
                    check=True,
                )
                subprocess.run(
                    [
                        "sox",
                        raw.name,
                        "-r",
                        str(RATE_HZ),
                        "-b",
                        str(BITS),
                        "-c",
                        "1",
                        str(out / f"{key}.wav"),
                        # no clipping; no dead air before or after the words
                        "gain",
                        "-n",
                        "-1",
                        "silence",
                        "1",
                        "0.05",
                        "0.5%",
                        "reverse",
                        "silence",
                        "1",
                        "0.05",
                        "0.5%",
                        "reverse",
                    ],
                    check=True,
                )


if __name__ == "__main__":
    main()
