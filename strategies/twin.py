"""The vectorized twin: the same targets, executed with the same conventions, in NumPy.

It reproduces what :mod:`strategies.engine` gets from backtrader (fills at the next open, the same
sizing from the portfolio value at the signal close, commission, slippage capped at high/low, and
the same per-name borrow charges, locates and recalls, :mod:`strategies.borrow`) so that a sweep of
thousands of parameter points can run on it and any backtrader run can be reconciled against it.
Python loops only over action rows — signal rows and margin calls (:mod:`strategies.limits`) —
each O(n_names) NumPy; the days in between are valued and checked against ``max_leverage``
vectorized. The result is assembled by ``BacktestResult.from_fills``, like backtrader's.

:func:`run_vectorized` is a sequence of named steps over one :class:`_Run` (what the run reads)
and one :class:`_Held` (what it holds): :func:`_value_rows`, :func:`_first_breach`,
:func:`_next_action`, :func:`_account_rules`, :func:`_overnight_borrow`, :func:`_check_cash`,
:func:`_fill`, then :func:`_equity_run` or :func:`_detail_result`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import numpy as np
import pandas as pd

from ..feeds.errors import SqueezeLabError
from .borrow import (
    Booking,
    BorrowBook,
    BorrowTerms,
    make_record,
    order_reason,
    resolve_terms,
    row_charges,
    short_charges,
)
from .execution import (
    LEG_CODE_LABELS,
    SHARE_QUANTUM,
    ActionPlan,
    PriceArrays,
    change_codes,
    commission_rate,
    commissions,
    fill_prices,
    leg_targets,
    order_sequence,
    plan_actions,
    price_arrays,
    rejected_orders,
    resolve_exec_params,
    slippage_rate,
    update_traded,
)
from .limits import LIMIT_REASON, apply_limits, limit_price, refusal_message
from .result import BacktestResult, Fills, label_array, margin_calls_frame
from .targets import LEGS, Targets

#: ``np.sum`` of a float array without its Python wrapper: the same pairwise reduction.
_sum = np.add.reduce
#: ``np.max`` and ``np.min`` likewise (NaN propagates).
_max, _min = np.maximum.reduce, np.minimum.reduce


@dataclass(frozen=True)
class EquityRun:
    """What :func:`run_vectorized` returns with ``detail=False``: the equity and trading totals.

    For sweeps, the run's reconciliation and generators that only need the equity curve: the
    same loop as the full result, without building trades, positions and legs.
    """

    equity: pd.Series
    cash: pd.Series
    traded_value: float          # sum of |size| x fill price over every fill
    n_trades: int
    overlay_log: pd.DataFrame
    engine: str = "vectorized"
    #: The first session with a fill (the end of the warm-up), None when nothing was traded.
    first_fill: pd.Timestamp | None = None
    margin_calls: pd.DataFrame = field(default_factory=margin_calls_frame)

    def returns(self) -> pd.Series:
        """Daily simple returns of the equity curve (first day 0), as ``BacktestResult.returns``."""
        r = self.equity.pct_change(fill_method=None)
        r.iloc[0] = 0.0
        return r


@dataclass(frozen=True)
class _Run:
    """What one run reads (fixed) and the per-row records it writes (equity, cash, borrow)."""

    market: Any
    p: dict[str, Any]
    px: PriceArrays
    plan: ActionPlan
    close_raw: np.ndarray        # signal closes, NaN where not listed
    days: np.ndarray             # calendar days since the previous row (PriceArrays.days)
    max_days: int                # the largest of them
    c_rate: float
    slip: float
    terms: BorrowTerms
    book: BorrowBook
    charging: bool
    equity: np.ndarray
    cash: np.ndarray
    borrow_day: np.ndarray
    detail: bool                 # keep what only the full result needs (ledger, order labels)
    sizing: np.ndarray           # per signal: the close where resized, 1.0 elsewhere
    all_resized: np.ndarray      # per signal: every name resized (no leg kept as held)
    limit_px: np.ndarray         # per signal: limits.limit_price at its close
    close_fin: np.ndarray        # per signal: its closes, 0.0 where not listed
    has_exits: np.ndarray        # per signal: some name is forced out before delisting

    #: The per-row records: rows before ``_Held.nxt`` are final (a resumed run copies them).
    RECORDS: ClassVar[tuple[str, ...]] = ("equity", "cash", "borrow_day")


@dataclass
class _Held:
    """What the run holds between action rows, and what it has recorded so far.

    Steps only append to its lists and never change an item once added (a sweep point's saved
    state keeps a list's length, :mod:`.twin_resume`); arrays may change in place.
    """

    pos: np.ndarray
    avgp: np.ndarray
    legs: np.ndarray
    cash: float
    net: np.ndarray              # legs summed over legs (what the orders change)
    short: np.ndarray            # columns held short, and per short |size|, fee row (flat
    short_abs: np.ndarray        # terms) and average price: what each valued row charges
    short_rate: np.ndarray | None
    short_avg: np.ndarray
    abs_pos: np.ndarray
    #: per day count, the holding's charges (:func:`_charges_by_days`; None until asked, and
    #: again after each trade; never changed once made, so saved states share it)
    by_days: tuple[np.ndarray, np.ndarray] | None = None
    nxt: int = 0                 # first row not yet valued
    valued: int = 0              # first row never valued (rows before it may be valued again)
    checked: int = 0             # first row not yet checked for a margin call or a recall
    first_fill: int | None = None
    fills: list[dict[str, np.ndarray]] = field(default_factory=list)
    fill_rows: list[int] = field(default_factory=list)
    leg_states: list[np.ndarray] = field(default_factory=list)
    #: per fill batch (detail only): its fill row, the legs' shares it changed (legs x names),
    #: its reason, borrow labels and exits
    batches: list[tuple[int, np.ndarray, str, np.ndarray | None, np.ndarray | None]] = \
        field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    #: the borrow ledger's bookings (detail only; :func:`strategies.borrow.ledger_from_bookings`
    #: builds ``BacktestResult.borrow_record.ledger`` from them when it is first read)
    bookings: list[Booking] = field(default_factory=list)



class _Action(NamedTuple):
    """One action row: its close, the cash there, the legs wanted and why."""

    t: int
    cash: float
    k: int | None                # the plan's signal (None: a margin call or recall row)
    legs: np.ndarray
    exits: np.ndarray | None     # forced exits before a delisting (None: none on this row)
    resized: np.ndarray | None
    reason: str


def run_vectorized(market: Any, targets: Targets, overlay_log: pd.DataFrame | None = None,
                   detail: bool = True, borrow: BorrowTerms | None = None,
                   max_net_long: float = 0.9, checkpoints: Any = None,
                   **exec_params: Any) -> BacktestResult | EquityRun:
    """Execute ``targets`` on ``market`` without backtrader; same result shape and numbers.

    Parameters
    ----------
    market : feeds.market.Market
    targets : Targets with signal dates on the market's dates.
    overlay_log : passed through to the result.
    detail : False returns an :class:`EquityRun` (same equity, no trades/positions/legs frames).
    borrow : the run's borrow terms (default: from ``borrow_model`` / ``borrow_bps``; the
        ``file`` model needs them given, :func:`strategies.borrow.resolve_terms`).
    max_net_long : funding cap after a locate cut or recall (``overlay.max_net_long``).
    checkpoints : a :class:`strategies.twin_resume.Checkpoints` shared by a sweep's points: the
        run starts from the state an earlier run reached where their plans part, and records
        its own (the same numbers as a run from the start).
    **exec_params : the ``[execution]`` table of :mod:`strategies.spec` (cash, commission_bps,
        slippage_bps, borrow_bps, fractional, max_leverage, margin_call_to, cash_buffer).

    Returns
    -------
    BacktestResult with ``engine="vectorized"``. Raises SqueezeLabError where backtrader would
    refuse an order for cash (checked at the signal close like ``checksubmit`` and at the fill).

    The loop visits action rows only: the targets' signal rows, any row whose close breaks
    ``max_leverage`` (found vectorized over the rows valued since the last fill) and any row
    where a held short exceeds what can be borrowed (:meth:`strategies.borrow.BorrowBook.
    first_recall`), each handled as backtrader's ``SqueezeBook.next`` handles it.
    """
    run = _setup(market, targets, borrow, max_net_long, exec_params, detail)
    n_names = run.px.close.shape[1]
    held = _Held(pos=np.zeros(n_names), avgp=np.zeros(n_names),
                 legs=np.zeros((len(LEGS), n_names)), cash=run.p["cash"], net=np.zeros(n_names),
                 short=np.zeros(0, np.int64), short_abs=np.zeros(0), short_rate=None,
                 short_avg=np.zeros(0), abs_pos=np.zeros(n_names))
    k = 0
    if checkpoints is not None:
        run, held, k = checkpoints.resume(run, held)
    while True:
        if checkpoints is not None:
            checkpoints.mark(run, held, k)
        if (act := _next_action(run, held, k)) is None:
            break
        k += act.resized is not None
        _fill(run, held, act, *_account_rules(run, held, act))
    if checkpoints is not None:   # later points copy rows from these: the result only reads them
        for name in _Run.RECORDS:
            if (arr := getattr(run, name)) is not None:
                arr.flags.writeable = False
    log = overlay_log if overlay_log is not None else pd.DataFrame()
    if not detail:
        return _equity_run(run, held, log)
    return _detail_result(run, held, targets, log)


def _setup(market: Any, targets: Targets, borrow: BorrowTerms | None, max_net_long: float,
           exec_params: dict[str, Any], detail: bool) -> _Run:
    """Resolve the run's parameters, prices, plan and borrow terms; allocate its records."""
    p = resolve_exec_params(exec_params)
    px = price_arrays(market)
    n_rows = px.close.shape[0]
    terms = borrow if borrow is not None else resolve_terms(p["borrow_model"], market,
                                                            p["borrow_bps"])
    plan = plan_actions(market, targets)
    close_raw = market.close.to_numpy(np.float64)
    # the signal rows' closes, NaN where not listed (each use below masks those), from the
    # row-ordered carried closes: close_raw is column-ordered, slow to gather rows from
    sig_close = np.where(px.listed[plan.rows], px.close[plan.rows], np.nan)
    return _Run(market=market, p=p, px=px, plan=plan, close_raw=close_raw, days=px.days,
                max_days=int(px.days.max(initial=0)),
                c_rate=commission_rate(p["commission_bps"]),
                slip=slippage_rate(p["slippage_bps"]), terms=terms,
                book=BorrowBook(terms, max_net_long, SHARE_QUANTUM if p["fractional"] else 1.0),
                charging=terms.charging, equity=np.empty(n_rows),
                cash=np.empty(n_rows), borrow_day=np.zeros(n_rows),
                detail=detail,
                sizing=np.where(plan.resize, sig_close, 1.0),
                all_resized=plan.resize.all(axis=1),
                limit_px=limit_price(sig_close, plan.tradable_next[plan.rows]),
                close_fin=_finite(sig_close),
                has_exits=plan.exits.any(axis=1))


def _value_rows(run: _Run, held: _Held, start: int, stop: int, cash: float) -> float:
    """Value rows start..stop (inclusive) with no fills; returns the cash at ``stop``."""
    if stop < start:
        return cash
    seg = slice(start, stop + 1)
    cols = held.short
    if run.detail and start < held.valued:   # rows valued again after an earlier action are
        held.bookings.append((start, min(stop + 1, held.valued), None, None, None))   # anew
    held.valued = max(held.valued, stop + 1)
    if run.charging and len(cols):
        if (by_days := _charges_by_days(run, held)) is not None:   # rows with the same day
            per_day, b_day = by_days                                # count charge the same
            days = run.days[seg]
            b = b_day[days]
            if run.detail:
                held.bookings.append((start, stop + 1, cols, per_day, days))
        else:
            per_name = _segment_charges(run, held, start, stop)
            if run.detail:
                held.bookings.append((start, stop + 1, cols, per_name, None))
            b = _sum(per_name, axis=1)
        run.borrow_day[seg] = b
        cash_seg = cash - np.add.accumulate(b)
    else:
        run.borrow_day[seg] = 0.0
        cash_seg = np.full(stop + 1 - start, cash)
    run.cash[seg] = cash_seg
    run.equity[seg] = cash_seg + run.px.close[seg] @ held.pos
    return float(cash_seg[-1])


#: Most calendar days between two rows for which :func:`_charges_by_days` tabulates charges.
_MAX_TABLE_DAYS = 64


def _charges_by_days(run: _Run, held: _Held) -> tuple[np.ndarray, np.ndarray] | None:
    """With a flat fee on the average price a short's charge for a row depends on the row's
    day count alone: per day count (0..the market's largest) the charge per short
    (:func:`strategies.borrow.short_charges`, the same operations) and their total, once per
    holding. None when the fee or the mark moves from row to row."""
    if held.short_rate is None or run.terms.mark != "average" or run.max_days > _MAX_TABLE_DAYS:
        return None
    if held.by_days is None:
        per_day = short_charges(np.arange(run.max_days + 1)[:, None], held.short_rate,
                                held.short_abs, held.short_avg)
        held.by_days = (per_day, _sum(per_day, axis=1))
    return held.by_days


def _segment_charges(run: _Run, held: _Held, start: int, stop: int) -> np.ndarray:
    """Borrow per (row, short) on rows start..stop: :func:`strategies.borrow.row_charges` on
    the holding's cached shorts (the same operations, without re-gathering what is fixed)."""
    days = run.days[start:stop + 1, None]
    if held.short_rate is not None and run.terms.mark == "average":   # flat: one fee row
        return short_charges(days, held.short_rate, held.short_abs, held.short_avg)
    return row_charges(run.terms, np.arange(start, stop + 1), run.days[start:stop + 1],
                       held.short, held.pos[held.short], held.avgp[held.short], run.px.close)


def _first_breach(run: _Run, held: _Held, start: int, stop: int) -> int | None:
    """First row in start..stop (inclusive, valued, no fills) whose gross / equity exceeds
    max_leverage, or None; the last market row has no next open and is never called."""
    max_lev = run.p["max_leverage"]
    stop = min(stop, len(run.equity) - 2)
    if not max_lev or stop < start or not held.pos.any():
        return None
    seg = slice(start, stop + 1)
    eq = run.equity[seg]
    # closes are positive, so close @ |pos| is the gross to rounding: far enough under the limit
    # on every row, no row breaches (the exact test below decides everything closer)
    if _min(eq) > 0 and (run.px.close[seg] @ held.abs_pos < (max_lev * (1 - 1e-9)) * eq).all():
        return None
    gross = np.abs(run.px.close[seg] * held.pos).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        lev = np.where(eq > 0, gross / np.where(eq > 0, eq, 1.0),
                       np.where(gross > 0, np.inf, 0.0))
    hit = np.flatnonzero(lev > max_lev)
    return start + int(hit[0]) if len(hit) else None


def _next_action(run: _Run, held: _Held, k: int) -> _Action | None:
    """Value up to the next signal row ``k``; the first margin call or recall before it acts
    first (the book as held); None after the last signal when nothing is left to act on."""
    plan, n_rows = run.plan, len(run.equity)
    t_plan = int(plan.rows[k]) if k < len(plan.rows) else n_rows - 1
    cash_plan = _value_rows(run, held, held.nxt, t_plan, held.cash)
    r = _first_breach(run, held, held.checked, t_plan - 1)
    rc = run.book.first_recall(held.checked, min(t_plan - 1, n_rows - 2), held.legs)
    if r is not None or rc is not None:
        t = min(x for x in (r, rc) if x is not None)
        return _Action(t=t, cash=float(run.cash[t]), k=None, legs=held.legs, exits=None,
                       resized=None, reason="margin_call" if t == r else "")
    if k >= len(plan.rows):
        return None
    new_legs = leg_targets(plan.weights[k], run.equity[t_plan], run.sizing[k], held.legs,
                           None if run.all_resized[k] else plan.resize[k], run.p["fractional"])
    return _Action(t=t_plan, cash=cash_plan, k=k, legs=new_legs,
                   exits=plan.exits[k] if run.has_exits[k] else None,
                   resized=plan.resize[k], reason=plan.reasons[k])


def _account_rules(run: _Run, held: _Held, act: _Action
                   ) -> tuple[np.ndarray, np.ndarray | None, str, np.ndarray]:
    """Locates and recalls (:mod:`strategies.borrow`), then the account limits, at the close of
    ``act.t``: the legs to hold, the borrow label per name, the orders' reason and the legs'
    net shares."""
    t = act.t
    f = t + 1
    equity = float(run.equity[t])
    new_legs, why = run.book.adjust(t, act.legs, run.close_raw[t], equity, act.resized)
    net = _sum(new_legs, axis=0)
    new_legs, acted = apply_limits(new_legs, held.legs, run.px.close[t], run.close_raw[t],
                                   equity, act.cash, run.plan.tradable_next[t], run.p, run.c_rate,
                                   nets=(net, held.net),
                                   price=None if act.k is None else run.limit_px[act.k])
    for rec in acted:
        dates = run.market.dates
        held.calls.append({"date": dates[t], "fill_date": dates[f], **rec})
    reason = LIMIT_REASON[acted[0]["rule"]] if acted else act.reason
    return new_legs, why, reason, net if not acted else new_legs.sum(axis=0)


def _overnight_borrow(run: _Run, held: _Held, t: int, f: int) -> float:
    """Borrow on the shorts held from the close of ``t`` into the fill bar ``f`` (booked at f):
    :func:`strategies.borrow.charges` on the cached shorts, 0.0 for the other names."""
    if not run.charging:
        return 0.0
    per = np.zeros(len(held.pos))
    short = held.short
    if len(short) and (by_days := _charges_by_days(run, held)) is not None:
        per[short] = by_days[0][run.days[f]]
    elif len(short):
        rate = held.short_rate if held.short_rate is not None else run.terms.rate[t, short]
        mark = held.short_avg if run.terms.mark == "average" else run.px.close[t, short]
        per[short] = short_charges(run.days[f], rate, held.short_abs, mark)
    if run.detail:
        held.bookings.append((f, f + 1, None, per, None))
    return float(_sum(per))


def _finite(close: np.ndarray) -> np.ndarray:
    """Closes with 0.0 where not listed (NaN): the price ``checksubmit`` sees there."""
    return np.where(np.isfinite(close), close, 0.0)


def _check_cash(run: _Run, held: _Held, act: _Action, delta: np.ndarray, seq: np.ndarray,
                fill: tuple[np.ndarray, np.ndarray, np.ndarray], cash_before: float,
                cash: float) -> None:
    """Raise where backtrader would refuse an order for cash: at the signal close
    (``checksubmit``) or at the fill. ``fill``: the orders' size, price and cash flow, in
    submission order (``seq``); ``held``: the positions before them."""
    d, pr, flow = fill
    t = act.t
    close_t = (_finite(run.close_raw[t]) if act.k is None else run.close_fin[act.k])[seq]
    # the running cash through the orders (as rejected_orders runs it) never below zero: none
    # can be refused (cash - x only falls as x grows, so the largest outflow decides; NaN fails)
    if cash_before - _max(np.add.accumulate(d * close_t + commissions(d, close_t, run.c_rate))) \
            >= 0 and cash - _max(np.add.accumulate(flow)) >= 0:
        return
    n = len(delta)
    pos = np.zeros(n)
    pos[seq] = held.pos[seq]
    price, close_all = np.zeros(n), np.zeros(n)
    price[seq], close_all[seq] = pr, close_t
    pre = rejected_orders(cash_before, delta, close_all, pos, run.c_rate, seq, submit_check=True)
    real = rejected_orders(cash, delta, price, pos, run.c_rate, seq)
    if pre.any() or real.any():
        j = seq[int(np.argmax(pre | real))]
        market = run.market
        raise SqueezeLabError("vectorized twin: " + refusal_message(
            int((pre | real).sum()), str(market.tickers[j]), float(delta[j]),
            market.dates[t].date().isoformat(), float(run.equity[t]), run.p["cash_buffer"],
            verb="would be rejected"))


def _fill(run: _Run, held: _Held, act: _Action, new_legs: np.ndarray, why: np.ndarray | None,
          reason: str, net: np.ndarray) -> None:
    """The fill bar: overnight borrow, then the orders at the open (sells first), then the
    bar's close valued with the new holdings (``net``: ``new_legs`` summed over legs)."""
    t, f = act.t, act.t + 1
    delta = net - held.net
    seq = order_sequence(delta)
    cash_before = act.cash
    b = _overnight_borrow(run, held, t, f)
    cash = cash_before - b
    if len(seq):
        px, d = run.px, delta[seq]
        pr = (fill_prices(px.open[f, seq], px.high[f, seq], px.low[f, seq], d > 0, run.slip)
              if run.slip else px.open[f, seq])
        cm, dp = commissions(d, pr, run.c_rate), d * pr
        _check_cash(run, held, act, delta, seq, (d, pr, dp + cm), cash_before, cash)
        held.first_fill = f if held.first_fill is None else held.first_fill
        cash -= float(_sum(dp)) + float(_sum(cm))
        _trade(run, held, seq, d, pr)
        fill = {"size": d, "price": pr}
        if run.detail:   # labelled once at the end (_labels)
            fill.update(cols=seq, commission=cm)
            held.batches.append((f, new_legs != held.legs, reason, why, act.exits))
        held.fills.append(fill)
    held.legs, held.net = new_legs, net
    if run.detail:   # the legs' history: only the full result reads it
        held.fill_rows.append(f)
        held.leg_states.append(new_legs)
    run.borrow_day[f] = b
    run.cash[f] = cash
    run.equity[f] = cash + run.px.close[f] @ held.pos
    held.cash = cash
    held.nxt = f + 1
    held.checked = f


def _trade(run: _Run, held: _Held, seq: np.ndarray, d: np.ndarray, pr: np.ndarray) -> None:
    """New positions and average prices after the orders (new arrays: a held state is never
    changed in place), and the caches the valued rows read."""
    pos, avgp = held.pos.copy(), held.avgp.copy()
    update_traded(pos, avgp, seq, d, pr)
    held.pos, held.avgp, held.abs_pos, held.by_days = pos, avgp, np.abs(pos), None
    short = (pos < 0).nonzero()[0]
    held.short, held.short_abs, held.short_avg = short, held.abs_pos[short], avgp[short]
    rate = run.terms.rate
    held.short_rate = rate[0, short] if rate.strides[0] == 0 else None


def _labels(held: _Held) -> Fills:
    """The detail fills with their fill rows and labels: per order the legs whose shares changed
    (:func:`strategies.execution.change_codes` of the masks kept per batch) and the reason
    (the row's, with a borrow label where a locate acted, ``delist_exit`` for forced exits), as
    the trades table's columns (:func:`strategies.result.label_array`)."""
    if not held.fills:
        return Fills.from_parts([])
    batches = held.batches
    counts = np.array([len(f["cols"]) for f in held.fills])
    cols = np.concatenate([f["cols"] for f in held.fills]).astype(np.int64, copy=False)
    names, reasons = _reason_codes(held, counts, cols)
    batch = np.repeat(np.arange(len(batches)), counts)
    codes = change_codes(np.stack([b[1] for b in batches]), axis=1)[batch, cols]
    return Fills(rows=np.array([b[0] for b in batches], dtype=np.int64)[batch],
                 cols=cols,
                 **{k: np.concatenate([f[k] for f in held.fills]).astype(np.float64, copy=False)
                    for k in ("size", "price", "commission")},
                 leg=label_array(LEG_CODE_LABELS, codes),
                 reason=label_array(names, reasons))


def _reason_codes(held: _Held, counts: np.ndarray, cols: np.ndarray
                  ) -> tuple[list[str], np.ndarray]:
    """Per order of the detail fills (batches of ``counts`` orders on columns ``cols``) its
    reason as a code into the returned names: the batch's, with a borrow label where a locate
    acted (:func:`strategies.borrow.order_reason`), ``delist_exit`` for forced exits."""
    names: dict[str, int] = {}
    codes = np.repeat(np.array([names.setdefault(b[2], len(names)) for b in held.batches],
                               dtype=np.int64), counts)
    starts = np.cumsum(counts) - counts
    for start, n, (_, _, reason, why, exits) in zip(starts, counts, held.batches, strict=True):
        seg = slice(start, start + n)   # only batches with borrow labels or exits
        if why is not None:
            codes[seg] = [names.setdefault(order_reason(reason, why[j]), len(names))
                          for j in cols[seg]]
        if exits is not None:
            codes[seg][exits[cols[seg]]] = names.setdefault("delist_exit", len(names))
    return list(names), codes


def _equity_run(run: _Run, held: _Held, log: pd.DataFrame) -> EquityRun:
    """The equity-only result (:class:`EquityRun`)."""
    dates = run.market.dates
    fills = held.fills
    # every fill's |size| x price at once (elementwise: the same products)
    traded = (np.abs(np.concatenate([x["size"] for x in fills]))
              * np.concatenate([x["price"] for x in fills])) if fills else np.zeros(0)
    return EquityRun(equity=pd.Series(run.equity, index=dates, name="equity"),   # copies:
                     cash=pd.Series(run.cash, index=dates, name="cash"),           # the caller's
                     # summed as the trades table's column would be (pandas: NaN as 0.0,
                     # then numpy's sum; np.nansum does the same)
                     traded_value=float(np.nansum(traded)),
                     n_trades=len(traded), overlay_log=log,
                     first_fill=None if held.first_fill is None else dates[held.first_fill],
                     margin_calls=margin_calls_frame(held.calls))


def _detail_result(run: _Run, held: _Held, targets: Targets, log: pd.DataFrame
                   ) -> BacktestResult:
    """The full result, assembled by ``BacktestResult.from_fills`` as backtrader's is."""
    market = run.market
    return BacktestResult.from_fills(
        market.dates, market.tickers, equity=run.equity, cash=run.cash, borrow=run.borrow_day,
        fills=_labels(held), legs=(np.asarray(held.fill_rows, dtype=np.int64), tuple(held.leg_states)),
        targets=targets,
        overlay_log=log,
        engine="vectorized",
        rejected_orders=0,
        margin_calls=margin_calls_frame(held.calls),
        info={"exec": run.p, "n_signals": int(len(run.plan.rows))},
        borrow_record=make_record(run.terms, held.bookings, run.book, market.dates,
                                  market.tickers),
    )
