"""Per-name borrow in backtrader through its own hook: one CommInfo per data, ``interest`` per day.

backtrader's broker charges every open position once per bar, before the bar's orders, via
``CommInfoBase.get_credit_interest`` -> ``_get_credit_interest(data, size, price, days, ...)``
(``BackBroker.next``; the charge lands in ``broker.d_credit[data]`` and comes out of cash). The
stock rule is ``days * interest / 365 * |size| * average price`` with one ``interest`` for the
whole broker; :class:`BorrowCommInfo` overrides ``_get_credit_interest`` with the fee in force for
its name at the previous close (:class:`strategies.borrow.BorrowTerms`), priced on the average
price (``flat``) or the previous close (``file``/``crowding``), using
:func:`strategies.borrow.charges` so the vectorized twin computes the very same float. It also
books each charge in a shared ledger (market rows x names) for ``borrow.csv``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .borrow import BorrowTerms
from .execution import SqueezeCommInfo, commission_rate


class BorrowCommInfo(SqueezeCommInfo):
    """:class:`~strategies.execution.SqueezeCommInfo` with a per-name, per-day borrow fee.

    Params: ``rate`` (per-day fee fraction per market row), ``mark`` (previous-close prices per
    row, or None for the average price), ``ledger`` (rows x names array the charges are added to),
    ``col`` (this name's column), ``tables`` (optional: the (rate, mark) tables of all names that
    ``rate`` and ``mark`` are column ``col`` of; :class:`~strategies.array_broker.ArrayBroker`
    then reads them in place).
    """

    params = (("rate", None), ("mark", None), ("ledger", None), ("col", 0), ("tables", None))

    #: :class:`strategies.array_broker.ArrayBroker` repeats this rule as one NumPy step per bar.
    vector_credit = True

    def _get_credit_interest(self, data: Any, size: float, price: float, days: int,
                             dt0: Any, dt1: Any) -> float:
        t = len(data) - 1  # the bar being charged; the short was held at the close of t - 1
        px = price if self.p.mark is None else float(self.p.mark[t - 1])
        # strategies.borrow.charges for one short (longs never get here: interest_long=False),
        # in scalar form: the same operations in the same order, so the same float
        charge = days * float(self.p.rate[t - 1]) * abs(size) * px
        self.p.ledger[t, self.p.col] += charge
        return charge


def add_borrow(broker: Any, names: list[str], terms: BorrowTerms, close: np.ndarray,
               commission_bps: float) -> np.ndarray:
    """Give every named data its :class:`BorrowCommInfo`; returns the ledger they fill.

    ``names``: the feeds' names in the terms' column order; ``close``: carried closes
    (rows x names) used as the mark when ``terms.mark == "close"``. Each scheme's ``rate`` and
    ``mark`` are column views of those two tables (no per-name copies; :class:`ArrayBroker
    <strategies.array_broker.ArrayBroker>` reads the tables themselves).
    """
    n_rows, n_names = terms.fee_bps.shape
    ledger = np.zeros((n_rows, n_names))
    rate = terms.rate
    marks = None if terms.mark == "average" else close
    for j, name in enumerate(names):
        broker.addcommissioninfo(
            BorrowCommInfo(commission=commission_rate(commission_bps), interest=0.0,
                           rate=rate[:, j], mark=None if marks is None else marks[:, j],
                           ledger=ledger, col=j, tables=(rate, marks)),
            name=name)
    return ledger
