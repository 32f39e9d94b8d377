"""Fee schedules as JSON, for storing them and for operators to publish them.

The document is `{"version": 3, "effective_from_date": "2026-12-01", "rules": [ {key...,
rule...}, ... ]}`; each rule names `payment_type` and optionally `issuer_coop_id` with
`acquirer_coop_id` and `merchant_criteria`, then `currency`, `bps`, `fixed_minor`,
`bearer`, `split` ({"issuer_bps", "acquirer_bps", "network_bps"}) and optional
`min_minor`/`max_minor`. Decoding validates through the schedule's own constructors, so a
stored schedule is exactly as strict as a new one. Pure.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from interchange.fee_schedule import (
    FeeBearer,
    FeeError,
    FeeErrorCode,
    FeeRule,
    FeeRuleKey,
    FeeSchedule,
    FeeSplit,
    MerchantCriteria,
    PaymentType,
)

__all__ = ["SCHEDULE_JSON_CHARS_MAX", "schedule_from_json", "schedule_to_json"]

SCHEDULE_JSON_CHARS_MAX = 200_000


def _rule_document(key: FeeRuleKey, rule: FeeRule) -> dict[str, Any]:
    return {
        "payment_type": key.payment_type.value,
        "issuer_coop_id": key.issuer_coop_id,
        "acquirer_coop_id": key.acquirer_coop_id,
        "merchant_criteria": key.merchant_criteria.value if key.merchant_criteria else None,
        "currency": rule.currency,
        "bps": rule.bps,
        "fixed_minor": rule.fixed_minor,
        "bearer": rule.bearer.value,
        "split": {
            "issuer_bps": rule.split.issuer_bps,
            "acquirer_bps": rule.split.acquirer_bps,
            "network_bps": rule.split.network_bps,
        },
        "min_minor": rule.min_minor,
        "max_minor": rule.max_minor,
    }


def schedule_to_json(schedule: FeeSchedule) -> str:
    """Render a schedule as canonical JSON (sorted keys, rules sorted by their JSON): equal
    schedules, equal text, whatever order their rules were given in."""
    rules = [_rule_document(key, rule) for key, rule in schedule.rules.items()]
    document = {
        "version": schedule.version,
        "effective_from_date": schedule.effective_from_date.isoformat(),
        "rules": sorted(rules, key=lambda rule: json.dumps(rule, sort_keys=True)),
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def _invalid(message: str) -> FeeError:
    return FeeError(FeeErrorCode.FEE_SCHEDULE_INVALID, message, field="schedule")


def _rule_from(item: dict[str, Any]) -> tuple[FeeRuleKey, FeeRule]:
    criteria = item.get("merchant_criteria")
    key = FeeRuleKey(
        payment_type=PaymentType(item["payment_type"]),
        issuer_coop_id=item.get("issuer_coop_id"),
        acquirer_coop_id=item.get("acquirer_coop_id"),
        merchant_criteria=None if criteria is None else MerchantCriteria(criteria),
    )
    split = item["split"]
    rule = FeeRule(
        currency=item["currency"],
        bps=item["bps"],
        fixed_minor=item["fixed_minor"],
        bearer=FeeBearer(item["bearer"]),
        split=FeeSplit(split["issuer_bps"], split["acquirer_bps"], split["network_bps"]),
        min_minor=item.get("min_minor"),
        max_minor=item.get("max_minor"),
    )
    return key, rule


def _refuse_float(text: str) -> float:
    raise ValueError(f"amounts and rates are integers, not {text!r}")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("a member is named twice")
    return document


def schedule_from_json(text: str) -> FeeSchedule:
    """Parse and validate a schedule document; raise `fee_schedule_invalid` if malformed,
    ambiguous (a member named twice in an object, two rules for one key) or too deep."""
    if not isinstance(text, str) or len(text) > SCHEDULE_JSON_CHARS_MAX:
        limit = f"{SCHEDULE_JSON_CHARS_MAX:,}"
        raise _invalid(f"a schedule document is JSON text of at most {limit} characters")
    try:
        document = json.loads(text, parse_float=_refuse_float, object_pairs_hook=_object)
        items = [_rule_from(item) for item in document["rules"]]
        rules = dict(items)
        if len(rules) != len(items):
            raise _invalid("two rules for one key")
        effective = date.fromisoformat(document["effective_from_date"])
        return FeeSchedule(document["version"], effective, rules)
    except FeeError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        raise _invalid(f"malformed schedule document: {error.__class__.__name__}") from error
