"""`whyrec ab report / replay / simulate`: offline analysis of A/B experiments."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from whyrec.cli.common import JsonFlag, app, emit

ab_app = typer.Typer(help="A/B experiments: report on logged exposures, replay logged data, simulate.", no_args_is_help=True)
app.add_typer(ab_app, name="ab")


def _ab_experiment(store_db: Any, name: str | None, config: Path | None) -> Any:
    """The experiment a command is about: the store's logged one by name, else the config's."""
    from whyrec.config import Experiment, RunConfig
    from whyrec.errors import ConfigError

    logged = store_db.experiments()
    if name is not None and name in logged:
        return Experiment.model_validate_json(logged[name])
    run = RunConfig.from_toml(config) if config else None
    if run is not None and run.experiment is not None and name in (None, run.experiment.name):
        return run.experiment
    if name is None and len(logged) == 1:
        return Experiment.model_validate_json(next(iter(logged.values())))
    raise ConfigError(
        f"no experiment {name or ''!r} in the store's logs ({', '.join(logged) or 'none'}) or in --config; "
        "name one with --experiment or give a run config with an [experiment] table"
    )


def _rate_line(r: dict[str, Any]) -> str:
    if r["rate"] is None:
        return "n/a"
    return f"{r['rate']:.4f} [{r['ci'][0]:.4f}, {r['ci'][1]:.4f}] ({r['count']}/{r['of']})"


@ab_app.command("report")
def ab_report(
    store: Annotated[Path, typer.Option("--store", help="SQLite store with logged exposures and events.")],
    experiment: Annotated[
        str | None, typer.Option("--experiment", help="Experiment name [default: the only one logged].")
    ] = None,
    confidence: Annotated[float, typer.Option("--confidence", help="Confidence level of the intervals and the test.")] = 0.95,
    as_json: JsonFlag = False,
) -> None:
    """Click-through and conversion per arm (users as the unit) with intervals, the z-test and the uplift."""
    from whyrec.data.store import Store
    from whyrec.evaluate.ab import report

    with Store(store, create=False) as db:
        rep = report(db, experiment, confidence)
    lines = [f"experiment {rep['experiment']} (control {rep['control']}, window {rep['window_s']} s, {confidence:.0%} intervals)"]
    for arm, a in rep["arms"].items():
        imp = "n/a" if a["impression_ctr"] is None else f"{a['impression_ctr']:.4f}"
        lines.append(
            f"  {arm}: {a['users']} users, {a['impressions']} impressions (impression ctr {imp})\n"
            f"      ctr {_rate_line(a['ctr'])}   conversion {_rate_line(a['conversion'])}"
        )
    for arm, metrics in rep["vs_control"].items():
        for metric, c in metrics.items():
            uplift = "n/a" if c["uplift"] is None else f"{c['uplift']:+.1%}"
            ci = "" if c["uplift_ci"] is None else f" [{c['uplift_ci'][0]:+.1%}, {c['uplift_ci'][1]:+.1%}]"
            verdict = "significant" if c["significant"] else "not significant"
            lines.append(
                f"  {arm} vs {rep['control']} {metric}: uplift {uplift}{ci}, z {c['z']:.2f}, p {c['p_value']:.4f} ({verdict})"
            )
    if rep["sample_ratio_p"] < 0.001:
        lines.append(
            f"  WARNING: users per arm do not match the configured shares (p {rep['sample_ratio_p']:.2g}); check the assignment"
        )
    if rep["users_in_several_arms"]:
        lines.append(f"  {rep['users_in_several_arms']} users were logged in several arms and are left out")
    emit(rep, as_json, "\n".join(lines))


@ab_app.command("replay")
def ab_replay(
    store: Annotated[Path, typer.Option("--store", help="SQLite store with the logged events to replay.")],
    config: Annotated[
        Path | None, typer.Option("--config", help="Run config TOML with an [experiment] table (arms' models).")
    ] = None,
    experiment: Annotated[
        str | None, typer.Option("--experiment", help="Experiment name (logged in the store or in --config).")
    ] = None,
    k: Annotated[int, typer.Option("-k", help="How many items each arm shows.")] = 10,
    test_frac: Annotated[
        float, typer.Option("--test-frac", help="Latest share of events to replay; the rest fits the arms.")
    ] = 0.2,
    max_targets: Annotated[
        int | None, typer.Option("--max-targets", help="Stop after this many replayed clicks/purchases.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Offline replay: each arm's top-k before every later click/purchase on a new item; a hit if it was there."""
    from whyrec.config import RunConfig
    from whyrec.data.store import Store
    from whyrec.errors import ConfigError
    from whyrec.evaluate.ab import replay
    from whyrec.progress import progress

    if k < 1:
        raise ConfigError(f"-k: must be at least 1, got {k}")
    run = RunConfig.from_toml(config) if config else RunConfig()
    with Store(store, create=False) as db:
        exp = _ab_experiment(db, experiment, config)
        dataset = db.read_dataset(name=store.stem)
    with progress(quiet=as_json) as bar:
        task = bar.add_task(f"replaying {exp.name} through {len(exp.arms)} arms", total=None)
        rep = replay(dataset, exp, run, k=k, test_frac=test_frac, max_targets=max_targets)
        bar.update(task, completed=1, total=1)
    lines = [f"replay of {exp.name}: {rep['targets']} clicks/purchases on new items, {rep['protocol']}, top-{k}"]
    for arm, a in rep["arms"].items():
        lines.append(f"  {arm} ({a['recommender']} + {a['reasoner']}): hit rate {_rate_line(a['hit_rate'])}")
    for arm, c in rep["vs_control"].items():
        verdict = "significant" if c["significant"] else "not significant"
        lines.append(f"  {arm} vs {rep['control']}: difference {c['difference']:+.4f}, p {c['p_value']:.4f} ({verdict})")
    lines.append(f"  assumes: {rep['assumptions']}")
    emit(rep, as_json, "\n".join(lines))


@ab_app.command("simulate")
def ab_simulate(
    store: Annotated[
        Path, typer.Option("--store", help="Store of a shop (a scratch copy: simulated users and events are added).")
    ],
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Run config TOML whose [experiment] is simulated [default: template vs prompt_lm]."),
    ] = None,
    users: Annotated[int, typer.Option("--users", help="Simulated shoppers, one response each.")] = 10_000,
    uplift: Annotated[
        float, typer.Option("--uplift", help="True relative uplift of every arm over the control (0 = an A/A test).")
    ] = 0.2,
    base_ctr: Annotated[float, typer.Option("--base-ctr", help="Control arm's chance that a shopper clicks.")] = 0.1,
    purchase_rate: Annotated[float, typer.Option("--purchase-rate", help="Chance a click ends in a purchase.")] = 0.3,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulation.")] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Log a simulated experiment with a known uplift, so `whyrec ab report` can be checked against the truth."""
    from whyrec.config import RunConfig
    from whyrec.data.store import Store
    from whyrec.errors import ConfigError
    from whyrec.evaluate.ab import SIMULATED, simulate

    if users < 1:
        raise ConfigError(f"--users: must be at least 1, got {users}")
    exp = SIMULATED
    if config is not None:
        exp = RunConfig.from_toml(config).experiment
        if exp is None:
            raise ConfigError(f"{config}: no [experiment] table to simulate")
    with Store(store, create=False) as db:
        if exp.name in db.experiments():
            raise ConfigError(f"{store}: experiment {exp.name!r} is already logged here; simulate into a fresh copy of the shop")
        truth = simulate(
            db, experiment=exp, users=users, base_ctr=base_ctr, uplift=uplift, purchase_rate=purchase_rate, seed=seed
        )
    human = (
        f"simulated {exp.name}: {truth['users']} users, {truth['exposures']} exposures, {truth['events']} events; "
        f"true ctr {truth['true_ctr']}, true uplift {uplift:+.1%}\nnext: whyrec ab report --store {store} --experiment {exp.name}"
    )
    emit(truth, as_json, human)
