"""Regenerate name_pinyin.txt: common surname and given-name characters by syllable.

Run with the test extras installed (pypinyin is not a run-time dependency):
    .venv/bin/python ui/data/make_name_pinyin.py
"""

from pathlib import Path

from pypinyin import Style, pinyin

# Common surnames first, then characters common in given names; order is the display order.
CHARS = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
    "龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞"
    "左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕"
    "屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧"
    "闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
    "秀英华明丽国建军平芳玉珍兰红梅文春桂生福金荣海云霞凤林志强伟东德永杰勇涛军辉斌刚洪成亮"
    "宝兴茂富贵祥顺发财寿山水田禾丰收秋冬夏月星燕娟敏静婷娜琴萍洁艳霞莲菊香翠花芬慧巧美小大"
    "二三四五六七八九十一中正清新安康乐民喜庆光亚宇晓伦俊峰波飞鹏龙虎彪豪锋磊鑫森淑惠爱珠凤仙"
    "桃杏松柏竹青绿彩玲雪冰雨晴虹娥姣娇妹姐嫂婆奶爷公叔伯根土石铁钢银铜锦绣才德仁义礼智信忠孝"
)


def main() -> None:
    by_syllable: dict[str, list[str]] = {}
    for char in dict.fromkeys(CHARS):
        for reading in pinyin(char, style=Style.NORMAL, heteronym=False)[0]:
            syllable = reading.replace("ü", "v")
            by_syllable.setdefault(syllable, []).append(char)
    lines = [f"{s} {''.join(cs)}" for s, cs in sorted(by_syllable.items())]
    out = Path(__file__).with_name("name_pinyin.txt")
    out.write_text("\n".join(lines) + "\n", "utf-8")
    print(f"{len(lines)} syllables, {sum(len(c) for c in by_syllable.values())} characters")


if __name__ == "__main__":
    main()
