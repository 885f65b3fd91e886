"""Builds calibration/bank-support.yaml: labelled answers for the reference bank's domain.

Each example is a customer question, an answer, the topic's rubric (for `judge`) and reference
answer (for `similar_to`), and the verdict a person gives it. The kinds of answer:

- reference: the bank's own answer (pass);
- paraphrase: the same facts in other words, written by hand (pass);
- invented_figure: the bank's answer with its figures changed, or an invented fee added (fail);
- wrong_steps: the wrong menu, order or channel, written by hand (fail);
- off_topic: the answer to another question (fail);
- refusal: a refusal of an ordinary question (fail);
- model: what SmolLM2-135M (`reference:llm`) really answered, labelled by reading it.

Run `python calibration/make_bank_set.py` after editing the hand-written parts below.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

HERE = Path(__file__).parent
KB = HERE.parent / "llmops" / "chatbot" / "data" / "kb.yaml"

# topic: (question, rubric, paraphrase, wrong steps or None)
TOPICS: dict[str, tuple[str, str, str, str | None]] = {
    "card-freeze": (
        "How do I freeze my debit card?",
        "Tells the customer to freeze the card in the Example Bank app (Cards, then Freeze card) "
        "and that it can be unfrozen again.",
        "Open the Example Bank app, go to Cards and tap Freeze card: new payments and cash "
        "withdrawals are blocked until you tap Unfreeze. If the card was lost or stolen, report "
        "it as well and we will send a new one.",
        "To freeze your debit card, visit any branch with your passport and fill in a card "
        "suspension form; freezing takes effect after 24 hours and cannot be undone, so a new "
        "card is ordered automatically.",
    ),
    "card-lost-stolen": (
        "I lost my card, what should I do?",
        "Tells the customer to freeze the card in the app and report it lost or stolen (in the "
        "app or by calling the 24/7 line), and says a replacement is sent.",
        "First freeze the card in the app under Cards > Freeze card. Then report it lost or "
        "stolen in the app (Cards > Report) or call us any time on +1 800 555 0199. We cancel it "
        "and post you a replacement within 3 to 5 business days; payments you did not make are "
        "not your liability.",
        "Don't worry: lost cards usually turn up. Wait a week, and if it has not appeared, send "
        "us a letter with your card number so we can cancel it.",
    ),
    "savings-interest": (
        "What interest rate do you pay on savings?",
        "Gives the Saver account's rate of 3.10% APY (and, if it mentions it, 4.00% APY for the "
        "12-month fixed-term deposit) without inventing other rates.",
        "The Saver account pays 3.10% APY at the moment, and a 12-month fixed-term deposit pays "
        "4.00% APY. Interest is worked out daily and paid monthly; see examplebank.com/rates "
        "for the latest rates.",
        None,
    ),
    "transfer-time": (
        "How long does a bank transfer take?",
        "Says transfers to other US banks arrive the same business day if sent before 5 pm ET "
        "(else the next business day) and international wires take 1 to 3 business days.",
        "Send it before 5 pm ET and a transfer to another US bank normally lands the same "
        "business day; after that, the next business day. Wires abroad take 1 to 3 business "
        "days, and Pending in the app means it is still being processed.",
        None,
    ),
    "transfer-international": (
        "How do I send money abroad?",
        "Explains sending money abroad in the app (Pay & Transfer > International) with the "
        "recipient's name, address, IBAN or account number and SWIFT/BIC code, for a $25 fee.",
        "In the app, go to Pay & Transfer > International. Have the recipient's name and address, "
        "their IBAN or account number and their bank's SWIFT/BIC code ready. Each wire costs $25 "
        "and you see the exchange rate before confirming.",
        "To send money abroad, withdraw cash at an ATM and take it to a money transfer agent; "
        "Example Bank does not handle international payments in the app.",
    ),
    "fees-account": (
        "Is there a monthly fee on the checking account?",
        "Says Everyday Checking costs $5 a month, waived with a $500 direct deposit or a $1,500 "
        "daily balance, and that Saver and Student accounts have no monthly fee.",
        "Everyday Checking is $5 a month, but we waive it in any month with at least $500 of "
        "direct deposits or a daily balance of $1,500 or more. Saver and Student accounts have "
        "no monthly fee; all fees are listed at examplebank.com/fees.",
        None,
    ),
    "fees-atm": (
        "Do you charge for using another bank's ATM?",
        "Says Example Bank and Allpoint ATMs are free, other US ATMs cost $2.50 per withdrawal "
        "(plus the owner's fee) and ATMs abroad $5 plus the 2.75% foreign transaction fee.",
        "Our own ATMs and the Allpoint network are free. At any other ATM in the US we charge "
        "$2.50 a withdrawal, and the ATM's owner may add a fee; abroad it is $5 plus the 2.75% "
        "foreign transaction fee.",
        None,
    ),
    "overdraft": (
        "How does an overdraft work?",
        "Explains the arranged overdraft (an agreed limit at 19.9% APR variable, requested in "
        "the app under Accounts > Overdraft) with the $50 interest-free buffer.",
        "With an arranged overdraft you can spend below zero up to a limit we agree, at 19.9% "
        "APR variable. Apply or ask for more in the app under Accounts > Overdraft and you get "
        "an answer within minutes. The first $50 is interest-free, and unarranged overdrafts "
        "under $5 are never charged.",
        "An overdraft is switched on automatically for every account with no limit; you repay "
        "it by visiting a branch, and interest is only charged after the first year.",
    ),
    "open-account": (
        "How do I open an account?",
        "Explains opening an account in the app, online or in a branch, for people 18 or over "
        "with a photo ID and a recent proof of address.",
        "It takes about 10 minutes in the Example Bank app, at examplebank.com or in a branch. "
        "You must be at least 18 and bring a valid photo ID, such as a passport or driver's "
        "license, plus proof of address dated within the last 3 months. Checking needs no "
        "minimum deposit.",
        "To open an account, mail us a signed application form together with your original "
        "passport and a bank reference from your current bank; we post your account details "
        "when the form has been processed.",
    ),
    "card-pin": (
        "I forgot my PIN, what can I do?",
        "Tells the customer to view the PIN in the app under Cards > Show PIN, and that it can be "
        "changed or unblocked at an Example Bank ATM.",
        "You can see your PIN any time in the app: Cards > Show PIN. To pick a new one, go to an "
        "Example Bank ATM and choose PIN services > Change PIN; a PIN blocked after 3 wrong tries "
        "is unblocked at our ATMs too.",
        "Call us and we will read your PIN out to you over the phone once we have checked your "
        "date of birth.",
    ),
    "card-replacement": (
        "How do I get a replacement card?",
        "Says to order a replacement in the app under Cards > Replace card, free, arriving in 3 "
        "to 5 business days.",
        "Order one in the app under Cards > Replace card. It is free and arrives within 3 to 5 "
        "business days; cards about to expire are renewed automatically about 4 weeks before.",
        "Replacement cards are ordered by calling the card company on the back of your card; "
        "Example Bank does not issue replacements itself.",
    ),
    "transfer-limits": (
        "What is the daily transfer limit?",
        "Gives the daily limits: $10,000 for online transfers, $25,000 for wires and $1,000 for "
        "ATM cash, and how to ask for a higher limit.",
        "Each day you can send up to $10,000 in online transfers and $25,000 in wires, and take "
        "out up to $1,000 in cash at ATMs. For a temporary increase, use Settings > Limits in the "
        "app or ask in a branch.",
        None,
    ),
    "mobile-deposit": (
        "Can I deposit a check with my phone?",
        "Explains mobile check deposit in the app (photograph the front and back of the endorsed "
        "check), up to $5,000 a day, with funds usually available the next business day.",
        "Yes: open Deposit in the app and take photos of the front and back of the endorsed "
        "check. You can deposit up to $5,000 a day this way, and the money is normally there "
        "the next business day; bigger checks go in at a branch.",
        "Yes, just photograph the front of the check and then destroy the paper check straight "
        "away; you do not need to endorse it.",
    ),
    "dispute": (
        "How do I dispute a charge on my card?",
        "Says to ask the merchant first, then open a dispute in the app (tap the transaction, "
        "Dispute) within 60 days, with a temporary credit while it is investigated.",
        "Start by asking the merchant for a refund. If they refuse, tap the transaction in the "
        "app and choose Dispute within 60 days; we give you a temporary credit within 10 "
        "business days while we look into it with the merchant.",
        "Disputes are handled by the merchant only: the bank cannot reverse card payments, so "
        "contact the shop and accept their decision.",
    ),
    "password-reset": (
        "I forgot my online banking password.",
        "Tells the customer to tap Forgot password on the sign-in screen and verify with a "
        "one-time code sent to the registered phone.",
        "On the sign-in screen of the app or online banking, tap Forgot password and follow the "
        "steps: we check it is you with a one-time code sent to your registered phone. Online "
        "banking locks for 30 minutes after 5 wrong attempts.",
        "Email your old password and your card number to support@examplebank.com and we will "
        "send you a new password by return.",
    ),
    "opening-hours": (
        "What are your branch opening hours?",
        "Gives the branch hours: Monday to Friday 9:00 am to 5:00 pm, Saturday 9:00 am to 1:00 "
        "pm, closed on Sundays and public holidays.",
        "Our branches open 9 am to 5 pm on weekdays and 9 am to 1 pm on Saturdays; they are "
        "closed on Sundays and public holidays. Phone support and the app are available 24/7.",
        None,
    ),
    "contact": (
        "How do I contact customer support?",
        "Gives the 24/7 phone line +1 800 555 0199, the e-mail support@examplebank.com or the "
        "in-app chat.",
        "You can reach support any time on +1 800 555 0199, by e-mail at "
        "support@examplebank.com, or through the chat in the app.",
        None,
    ),
    "deposit-insurance": (
        "Is my money safe with you?",
        "Says Example Bank is an FDIC member and deposits are insured up to $250,000 per "
        "depositor and ownership category.",
        "Yes: we are an FDIC member bank, so your deposits are insured up to $250,000 per "
        "depositor in each ownership category, and each co-owner of a joint account is covered "
        "up to $250,000.",
        None,
    ),
    "close-account": (
        "How do I close my account?",
        "Explains closing: empty the account, cancel direct debits, then Settings > Close "
        "account in the app or a branch; free, done within 2 business days.",
        "Move the money out and cancel your direct debits first, then choose Settings > Close "
        "account in the app or go to a branch. There is no charge and the account closes within "
        "2 business days.",
        "Accounts close automatically if you stop using them for a month, so you do not need "
        "to do anything; any money left is kept by the bank as a closing fee.",
    ),
    "card-abroad": (
        "Can I use my debit card abroad?",
        "Says the card works in over 200 countries wherever Visa is accepted, with no need to "
        "tell the bank, and mentions the 2.75% foreign transaction fee on Everyday Checking.",
        "Yes, it works wherever Visa is taken, in more than 200 countries, and you do not have to "
        "let us know before you go. Paying in local currency gets the best rate; Everyday "
        "Checking purchases abroad have a 2.75% foreign transaction fee, the Rewards credit "
        "card none.",
        None,
    ),
}

# What SmolLM2 said, labelled by reading each answer against the topic's rubric.
MODEL_LABELS = {
    "What interest rate do you pay on savings?": ("savings-interest", "pass"),
    "How long does a bank transfer take?": ("transfer-time", "fail"),
    "Do you charge for using another bank's ATM?": ("fees-atm", "fail"),
    "What are your branch opening hours?": ("opening-hours", "fail"),
    "How much does an international wire cost?": ("transfer-international", "fail"),
    "I lost my card, what should I do?": ("card-lost-stolen", "fail"),
    "How does an overdraft work?": ("overdraft", "fail"),
    "Is there a monthly fee on the checking account?": ("fees-account", "fail"),
    "How do I freeze my debit card?": ("card-freeze", "fail"),
    "Can I use my debit card abroad?": ("card-abroad", "fail"),
    "How do I open an account?": ("open-account", "fail"),
    "What is the daily transfer limit?": ("transfer-limits", "fail"),
}

FIGURE = re.compile(r"\$\d[\d,]*(?:\.\d+)?|\d+(?:\.\d+)?%|\b\d+(?= (?:business )?days|-month)")


def _bump(match: re.Match[str]) -> str:
    """A plausible wrong figure: same form, different value."""
    s = match.group()
    num = re.search(r"\d[\d,]*(?:\.\d+)?", s)
    assert num
    raw = num.group().replace(",", "")
    value = float(raw) * 1.5 + 1 if "." in raw else int(raw) * 2 + 1
    new = f"{value:.2f}" if "." in raw else f"{value:,}" if "," in num.group() else str(value)
    return s[: num.start()] + new + s[num.end():]


def build() -> list[dict[str, object]]:
    kb = yaml.safe_load(KB.read_text())
    answers = {t["id"]: " ".join(t["answer"].split()) for t in kb["topics"]}
    refusal = " ".join(kb["responses"]["refuse_account_data"].split())
    ids = list(TOPICS)
    out: list[dict[str, object]] = []

    def add(topic: str, kind: str, answer: str, label: str, question: str | None = None) -> None:
        q, rubric, _, _ = TOPICS[topic]
        out.append({"id": f"{topic}.{kind}", "kind": kind, "prompt": question or q,
                    "answer": answer, "rubric": rubric, "reference": answers[topic],
                    "label": label})

    for i, topic in enumerate(ids):
        _, _, paraphrase, wrong = TOPICS[topic]
        ref = answers[topic]
        add(topic, "reference", ref, "pass")
        add(topic, "paraphrase", paraphrase, "pass")
        changed, n = FIGURE.subn(_bump, ref, count=2)
        if n == 0:
            changed = ref + " This costs a $15 fee each time."
        add(topic, "invented_figure", changed, "fail")
        if wrong:
            add(topic, "wrong_steps", wrong, "fail")
        # the answer of a topic half the list away: fluent, on-brand, and off the question
        add(topic, "off_topic", answers[ids[(i + len(ids) // 2) % len(ids)]], "fail")
        add(topic, "refusal", refusal, "fail")
    for line in (HERE / "smollm2_answers.jsonl").read_text().splitlines():
        rec = json.loads(line)
        topic, label = MODEL_LABELS[rec["q"]]
        add(topic, "model", rec["a"].strip(), label, question=rec["q"])
    return out


def main() -> None:
    examples = build()
    header = (
        "# Labelled answers for the reference bank's domain: `llmops judge calibrate` measures\n"
        "# how far a judge (or `similar_to`) agrees with these verdicts. Built by\n"
        "# calibration/make_bank_set.py (read its docstring for how each kind is labelled).\n"
    )
    body = yaml.safe_dump({"examples": examples}, sort_keys=False, allow_unicode=True,
                          width=100)
    (HERE / "bank-support.yaml").write_text(header + body)
    kinds: dict[str, int] = {}
    for e in examples:
        kinds[f"{e['kind']}:{e['label']}"] = kinds.get(f"{e['kind']}:{e['label']}", 0) + 1
    print(len(examples), kinds)


if __name__ == "__main__":
    main()
