"""Publishing fee schedules: idempotent for the same document (and for an equal schedule
whatever the order of its rules), refused for other rules under a version already
published (`fee_schedule_version_exists`), for a version below the newest, or for rules
naming a cooperative not registered (`fee_coop_not_found`), and safe when two operators
publish one version at once. A quote is priced by the schedule in force on its business date, the
highest version among those of the latest effective date.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import func, select

from interchange.fee_defaults import launch_schedule
from interchange.fee_schedule import FeeError, FeeErrorCode, FeeRuleKey, FeeSchedule, PaymentType
from interchange.tables import fee_schedule
from tests.network import idr, network_on
from tests.races import blocked_rival

if TYPE_CHECKING:
    # Imported for annotations only: pytest would try to collect a module-level Test* class.
    from tests.network import TestNetwork


def published_versions(net: TestNetwork) -> list[tuple[int, int]]:
    query = select(fee_schedule.c.version, func.count()).group_by(fee_schedule.c.version)
    with net.services.engine.connect() as conn:
        return sorted((int(v), int(n)) for v, n in conn.execute(query))


def test_publishing_the_same_schedule_again_returns_it_and_adds_nothing(db_url: str) -> None:
    with network_on(db_url) as net:  # publishes the launch schedule, version 1
        assert net.services.payments.publish_schedule(launch_schedule()) == launch_schedule()
        assert published_versions(net) == [(1, 1)]


def test_publishing_anything_but_a_schedule_is_refused_by_name(db_url: str) -> None:
    """A mapping where a `FeeSchedule` belongs is `fee_schedule_invalid`, not an
    AttributeError, and nothing is published."""
    with network_on(db_url) as net:
        with pytest.raises(FeeError) as refused:
            net.services.payments.publish_schedule({"version": 2})  # type: ignore[arg-type]
        assert (refused.value.code, refused.value.field) == (
            FeeErrorCode.FEE_SCHEDULE_INVALID,
            "schedule",
        )
        assert published_versions(net) == [(1, 1)]


def test_other_rules_under_a_published_version_are_refused(db_url: str) -> None:
    launch = launch_schedule()
    fewer = {k: r for k, r in launch.rules.items() if k.payment_type is PaymentType.QR_PURCHASE}
    with network_on(db_url) as net:
        with pytest.raises(FeeError) as refused:
            net.services.payments.publish_schedule(
                FeeSchedule(1, launch.effective_from_date, fewer)
            )
        assert refused.value.code is FeeErrorCode.FEE_SCHEDULE_VERSION_EXISTS
        assert refused.value.field == "version"
        assert published_versions(net) == [(1, 1)]


@pytest.mark.parametrize("unknown", ["issuer", "acquirer"])
def test_a_new_version_naming_a_cooperative_not_registered_is_refused(
    db_url: str, unknown: str
) -> None:
    """A pair rule for a registered cooperative and 999 (not registered):
    `fee_coop_not_found` naming 999's field, nothing published. A pair of registered
    cooperatives is published."""
    launch = launch_schedule()
    base = launch.rules[FeeRuleKey(payment_type=PaymentType.QR_PURCHASE)]
    with network_on(db_url) as net:
        known = net.add_coop("KSA").id
        issuer, acquirer = (known, 999) if unknown == "acquirer" else (999, known)
        key = FeeRuleKey(
            payment_type=PaymentType.QR_PURCHASE, issuer_coop_id=issuer, acquirer_coop_id=acquirer
        )
        version_2 = FeeSchedule(2, date(2027, 1, 1), {**launch.rules, key: base})
        with pytest.raises(FeeError) as refused:
            net.services.payments.publish_schedule(version_2)
        assert refused.value.code is FeeErrorCode.FEE_COOP_NOT_FOUND
        assert refused.value.field == f"{unknown}_coop_id"
        assert published_versions(net) == [(1, 1)]
        both_known = FeeRuleKey(
            payment_type=PaymentType.QR_PURCHASE,
            issuer_coop_id=known,
            acquirer_coop_id=net.network.id,
        )
        net.services.payments.publish_schedule(
            FeeSchedule(2, date(2027, 1, 1), {**launch.rules, both_known: base})
        )
        assert published_versions(net) == [(1, 1), (2, 1)]


@pytest.mark.postgres
def test_two_operators_publishing_one_version_at_once_both_get_it(pg_url: str) -> None:
    """The second operator starts while the first has looked the version up and not yet
    committed: publications take turns (a table lock), so the second waits, then finds the
    version published and gets it back as a replay, not an error."""
    second = replace(launch_schedule(), version=2, effective_from_date=date(2027, 1, 1))
    with network_on(pg_url) as net:
        payments = net.services.payments

        def looks_up_the_version(statement: str) -> bool:
            return statement.startswith("SELECT interchange_fee_schedule.rules_json")

        def publish_too() -> FeeSchedule:
            return payments.publish_schedule(second)

        with blocked_rival(net.services.engine, looks_up_the_version, publish_too) as rival:
            published = payments.publish_schedule(second)
        assert rival[0].result(timeout=30) == second and published == second
        assert published_versions(net) == [(1, 1), (2, 1)]


def test_a_version_below_the_newest_is_refused(db_url: str) -> None:
    later = replace(launch_schedule(), version=3, effective_from_date=date(2027, 1, 1))
    with network_on(db_url) as net:
        net.services.payments.publish_schedule(later)
        with pytest.raises(FeeError) as refused:
            net.services.payments.publish_schedule(replace(later, version=2))
        assert refused.value.code is FeeErrorCode.FEE_SCHEDULE_VERSION_STALE
        assert published_versions(net) == [(1, 1), (3, 1)]


# Quotes and the schedule in force


def cash_out_schedule(version: int, effective: date, fee_minor: int) -> FeeSchedule:
    """The launch tariff with another fixed cash-out fee, under a new version and date."""
    launch = launch_schedule()
    key = FeeRuleKey(payment_type=PaymentType.CASH_OUT)
    rules = dict(launch.rules)
    rules[key] = replace(rules[key], fixed_minor=fee_minor)
    return FeeSchedule(version, effective, rules)


def cash_out_fee(net: TestNetwork, day: date) -> tuple[int, int]:
    """(schedule version, fee) that `Payments.quote` gives for a cash-out on `day`."""
    network_id = net.network.id
    priced = net.services.payments.quote(
        idr(75_000), PaymentType.CASH_OUT, network_id, network_id, business_date=day
    )
    return priced.schedule_version, priced.fee.amount_minor


def test_a_quote_uses_the_schedule_in_force_on_its_business_date(net: TestNetwork) -> None:
    net.services.payments.publish_schedule(cash_out_schedule(2, date(2026, 3, 1), 300_000))
    with pytest.raises(FeeError) as caught:
        cash_out_fee(net, date(2025, 12, 31))
    assert caught.value.code is FeeErrorCode.FEE_SCHEDULE_MISSING
    assert cash_out_fee(net, date(2026, 1, 1)) == (1, 250_000)
    assert cash_out_fee(net, date(2026, 2, 28)) == (1, 250_000)
    assert cash_out_fee(net, date(2026, 3, 1)) == (2, 300_000)
    # A same-day correction: the higher version wins from its first day on.
    net.services.payments.publish_schedule(cash_out_schedule(3, date(2026, 3, 1), 350_000))
    assert cash_out_fee(net, date(2026, 2, 28)) == (1, 250_000)
    assert cash_out_fee(net, date(2026, 3, 1)) == (3, 350_000)


def test_a_schedule_version_below_the_newest_is_refused(net: TestNetwork) -> None:
    """Versions grow in the order they are published: version 2 after version 3 is
    `fee_schedule_version_stale`, and quotes go on with what was published. Stored, it
    would be ignored by every process that had read version 3 (schedules are reloaded
    when the newest version changes), so quotes and payments on its dates would go on
    with version 1."""
    payments = net.services.payments
    payments.publish_schedule(cash_out_schedule(3, date(2027, 1, 1), 400_000))
    assert cash_out_fee(net, date(2026, 7, 1)) == (1, 250_000)
    with pytest.raises(FeeError) as refused:
        payments.publish_schedule(cash_out_schedule(2, date(2026, 6, 1), 300_000))
    assert refused.value.code is FeeErrorCode.FEE_SCHEDULE_VERSION_STALE
    assert cash_out_fee(net, date(2026, 7, 1)) == (1, 250_000)


def test_publishing_an_equal_schedule_again_is_a_replay_whatever_its_rule_order(
    net: TestNetwork,
) -> None:
    """`FeeSchedule` equality ignores the order of its rules, and so does publication:
    republishing a schedule equal (==) to the published one, its rules given in another
    order, is a replay, not `fee_schedule_version_exists` (publication compares
    schedules, not the order of rules in their JSON text)."""
    launch = launch_schedule()
    reordered = FeeSchedule(
        launch.version, launch.effective_from_date, dict(reversed(list(launch.rules.items())))
    )
    assert reordered == launch
    assert net.services.payments.publish_schedule(reordered) == launch
