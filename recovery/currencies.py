"""The currencies a remedy may be paid in, and how many decimals each is written with.

From ISO 4217's list of current currencies (the "minor unit" column). Only money a customer
can be paid in: the fund codes (BOV, CHE, CHW, CLF, COU, MXV, USN, UYI, UYW), precious
metals, special drawing rights and the test codes (XAG, XAU, XBA-XBD, XDR, XPD, XPT, XSU,
XTS, XUA, XXX) are not here. No maintained currency library is a dependency, hence the
table; when ISO 4217 adds or withdraws a currency, change it here.

The amount column holds two decimals, so a three-decimal currency (BHD, KWD) is written with
its three but cannot yet hold a third non-zero one.
"""

from decimal import Decimal

# fmt: off
# Currencies without a minor unit: 12.5 JPY is not an amount anyone can pay.
NO_DECIMALS = frozenset({
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND",
    "VUV", "XAF", "XOF", "XPF",
})
# Currencies whose minor unit is a thousandth.
THREE_DECIMALS = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})
# Every other current currency has a hundredth.
TWO_DECIMALS = frozenset({
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD",
    "BDT", "BGN", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DKK", "DOP", "DZD", "EGP",
    "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GTQ", "GYD",
    "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IRR", "JMD", "KES", "KGS", "KHR",
    "KPW", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "MAD", "MDL", "MGA", "MKD",
    "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN",
    "NIO", "NOK", "NPR", "NZD", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "QAR", "RON",
    "RSD", "RUB", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD",
    "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TOP", "TRY", "TTD", "TWD",
    "TZS", "UAH", "USD", "UYU", "UZS", "VED", "VES", "WST", "XCD", "XCG", "YER", "ZAR",
    "ZMW", "ZWG",
})
# fmt: on
KNOWN = NO_DECIMALS | THREE_DECIMALS | TWO_DECIMALS


def is_known(code: str) -> bool:
    return code in KNOWN


def decimals(code: str) -> int:
    """The digits after the point for ``code``; two for a code not in the table."""
    if code in NO_DECIMALS:
        return 0
    if code in THREE_DECIMALS:
        return 3
    return 2


def written(amount: Decimal, code: str) -> str:
    """The amount with its currency's own decimals: 1200 JPY, 12.50 GBP, 12.500 BHD.

    A row saved before the decimals were checked (12.50 JPY) keeps its digits rather than
    being shown rounded.
    """
    exact = amount.quantize(Decimal(1).scaleb(-decimals(code)))
    return str(exact if exact == amount else amount)
