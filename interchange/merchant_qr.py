"""A registered merchant's QR code: static (the payer enters the amount) or dynamic.

Pure: builds the payload from the merchant's registry record with `interchange.qr`. Postal
code and national QRIS id are left out, as the registry does not hold the latter.
"""

from __future__ import annotations

from interchange.qr import MerchantQrSpec, encode_merchant_qr
from interchange.registry_model import Merchant
from ledger.money import Money

__all__ = ["merchant_qr"]


def merchant_qr(merchant: Merchant, amount: Money | None = None) -> str:
    """The merchant's static payload, or a dynamic one carrying `amount`."""
    return encode_merchant_qr(
        MerchantQrSpec(
            merchant_network_id=merchant.network_merchant_id,
            merchant_name=merchant.name,
            merchant_city=merchant.city,
            mcc=merchant.mcc,
            criteria=merchant.criteria,
            amount=amount,
        )
    )
