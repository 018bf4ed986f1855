"""One table of metric labels and display formats, shared by the pages and the terminal.

Every key the pages show (metrics.json fields, equity/overlay log columns, sweep.csv columns) has
one row here: how it is labelled and how its value is formatted. Nothing is guessed from words in
key names; a dotted key (``jan_2026.max_drawdown_in_window``) is looked up by its last part, and a
key not in the table is shown as a plain number under a label made from its name.

Kinds: ``spct`` signed percent (returns, drawdowns, contributions), ``pct`` percent (exposures,
volatility, shares of days), ``ratio`` 2 decimals, ``int``, ``num1`` 1 decimal, ``money`` whole
units with separators, ``money2`` 2 decimals, ``sci`` scientific, ``bool`` yes/no, ``text``
as given (dates, names), ``num`` 4 significant digits.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricFormat:
    label: str
    kind: str


def _rows(kind_: str, /, **labels: str) -> dict[str, MetricFormat]:
    return {k: MetricFormat(v, kind_) for k, v in labels.items()}


#: key -> (label, kind). Keys are metrics.json field names unless noted.
FORMATS: dict[str, MetricFormat] = {
    # performance (analyzers.metrics.Performance / OutsideEpisodes / Warmup)
    **_rows("spct", cumulative_return="Cumulative return", annual_return="Annual return",
            max_drawdown="Max drawdown", value_at_risk="Daily value at risk",
            conditional_value_at_risk="Daily expected shortfall", alpha="Alpha (annualized)",
            total_return="Total return", cagr="CAGR", current_drawdown="Current drawdown"),
    **_rows("pct", annual_volatility="Annual volatility", hit_rate="Up days",
            hit_rate_vs_benchmark="Days beating the index",
            up_market_hit_rate="Beating it, up days", down_market_hit_rate="Beating it, down days"),
    **_rows("ratio", sharpe_ratio="Sharpe ratio", sortino_ratio="Sortino ratio",
            calmar_ratio="Calmar ratio", stability="Stability (R\u00b2 of log equity)",
            tail_ratio="Tail ratio", beta="Beta", sharpe="Sharpe", sortino="Sortino",
            calmar="Calmar"),
    **_rows("text", benchmark="Benchmark", start="Start", end="End",
            invested_from="First invested session", excluded="Excluded episodes"),
    **_rows("int", n_days="Days", days="Days", sessions="Sessions"),
    # drawdowns (DrawdownPeriod)
    **_rows("spct", drawdown="Depth"),
    **_rows("text", peak_date="Peak", valley_date="Trough", recovery_date="Recovery",
            recovery="Recovery"),
    **_rows("int", duration="Duration (business days)",
            peak_to_valley_sessions="Peak\u2192trough (sessions)", n_periods="Drawdown periods"),
    **_rows("bool", recovered="Recovered", truncated="Truncated", peak_in_window="Peak in window"),
    # episodes (EpisodeEntry, Detection, SkippedEpisode)
    **_rows("text", kind="Kind", description="Description", first_session="First session",
            last_session="Last session", base_date="Base close", trough_date="Trough",
            name="Name", reason="Reason", signal_description="Signal",
            first_date="First decision", last_date="Last decision", first_action="First action",
            worst_date="Worst date", engines="Engines"),
    **_rows("spct", window_return="Window return", **{"return": "Window return"}, max_drawdown_in_window="Max DD in window",
            depth="Depth from peak", specific="Specific", sum_return="Sum of daily returns",
            residual="Residual"),
    **_rows("int", peak_to_trough_sessions="Peak\u2192trough sessions",
            peak_to_trough_days="Peak\u2192trough (calendar days)",
            trough_to_recovery_sessions="Trough\u2192recovery sessions", lookback="Lookback",
            top_drawdowns="Top drawdowns", n_obs="Days"),
    **_rows("bool", enabled="Enabled", ok="OK", profitable="Profitable", is_tech="Tech"),
    **_rows("ratio", threshold="Threshold", r2="R\u00b2"),
    # legs and costs (contributions to a window return)
    **_rows("spct", long="Long leg", short="Short leg", hedge="Hedge", commission="Commission",
            borrow="Borrow", costs="Costs", total="Total", pnl_long="Long leg",
            pnl_short="Short leg", pnl_hedge="Hedge", pnl_costs="Costs"),
    **_rows("money", base_equity="Base equity", final_equity="Final equity",
            final_value="Final value", market_cap="Market cap", equity="Equity", cash="Cash"),
    **_rows("money2", max_abs_residual="Max abs daily residual", price="Price"),
    # reference series (growth of each over a window)
    **_rows("spct", index="Index", growth="Growth index", most_shorted="Most-shorted",
            unprofitable_tech="Unprofitable tech"),
    # top names (TopNames items)
    **_rows("text", ticker="Ticker", leg="Leg", sector="Sector"),
    **_rows("money", pnl="PnL (before costs)"),
    **_rows("spct", contribution="Contribution"),
    **_rows("pct", short_interest="Short interest"),
    **_rows("ratio", days_to_cover="Days to cover", beta_net="Net beta"),
    # exposures (Exposures columns; fractions of equity unless noted)
    **_rows("pct", gross_exposure="Gross", net_exposure="Net", long_exposure="Long",
            short_exposure="Short", beta_net_exposure="Beta-adj. net", hedge_exposure="Hedge",
            turnover="Turnover / day"),
    **_rows("money", gross="Gross (money)", net="Net (money)", hedge_gross="Hedge gross (money)"),
    **_rows("num1", n_long="Names long", n_short="Names short", n_hedge="Names hedged"),
    # overlay (Overlay, OverlayWindow, overlay_log.csv columns)
    **_rows("int", n_decisions="Decisions", sessions_to_first="Sessions to first"),
    **_rows("text", action="Action", detail="Detail", event="Event", date="Date",
            actions="Actions"),
    **_rows("ratio", signal="Signal"),
    **_rows("num", size="Size"),
    # reconciliation
    **_rows("sci", max_rel_diff="Max relative difference", tolerance="Tolerance"),
    # margin_calls.csv (strategies.result.MARGIN_CALL_COLUMNS)
    **_rows("text", fill_date="Fill date", rule="Rule"),
    **_rows("ratio", leverage="Gross / equity", leverage_after="Gross / equity after",
            scale="Scale applied"),
    **_rows("money", cash_after="Cash after"),
    # run facts and sweep.csv columns
    **_rows("int", seed="Seed", n_names="Names", point="Point", shares="Shares"),
}


def metric_format(key: str) -> MetricFormat:
    """The row for ``key`` (exact, else its last dotted part), else a plain number."""
    key = str(key)
    if key in FORMATS:
        return FORMATS[key]
    last = key.rsplit(".", 1)[-1]
    if last in FORMATS:
        return FORMATS[last]
    text = last.replace("_", " ").strip()
    return MetricFormat(text[:1].upper() + text[1:] if text else key, "num")
