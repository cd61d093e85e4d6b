"""``casetrail bench scale`` on the real stack, small: every figure comes out, the decider
takes over from the generated snapshots (both starts), verify finds the log intact, and
nothing the bench made is left behind."""

from projections.db import connect
from services.adapters.kafka import admin
from services.bench.scale import bench_scale
from services.progress import quiet
from services.settings import KafkaRole, Settings, with_database


async def test_a_small_scale_run_takes_over_from_its_snapshots_and_reports_every_figure(
    servers: Settings,
) -> None:
    result = await bench_scale(servers, cases=200, events=2000, say=quiet, queries=3)
    log = result["log"]
    assert (log["submissions"], log["events"], log["cases"]) == (2000, 2000, 200)
    assert log["events_per_second"] > 0
    takeover = result["decider_takeover"]
    for start in ("first", "second"):
        # Every partition served from its snapshot, with nothing after it to fold.
        assert takeover[start]["from_snapshot"] is True, takeover[start]
        assert takeover[start]["events_folded"] == 0, takeover[start]
        assert takeover[start]["seconds"] > 0
        assert takeover[start]["peak_rss_mb"] > 10
        # Known from the snapshots' heads; none read from the case store until a submission
        # names it.
        assert takeover[start]["cases_known"] == 200, takeover[start]
        assert takeover[start]["cases_in_memory"] == 0, takeover[start]
    assert takeover["baseline_aiokafka_read_events"]["records"] == 2000
    # A record per case, one outcome chunk per case, and a head per partition.
    assert takeover["baseline_aiokafka_read_snapshots"]["records"] == 2 * 200 + result["partitions"]
    for projection in ("audit_trail", "cases"):
        rebuilt = result[f"rebuild_{projection}"]
        assert rebuilt["events_per_second"] > 0
        assert rebuilt["baseline_copy_rows"] == 2000
        assert rebuilt["baseline_copy_rows_per_second"] > 0
    verified = result["verify"]
    assert verified["intact"] is True, verified
    assert (verified["events"], verified["audit_rows"], verified["problems"]) == (2000, 2000, 0)
    assert verified["peak_rss_mib"] > 10
    for name in ("statistics_as_of", "case_as_of"):
        latency = result["as_of"][name]
        assert latency["queries"] == 3
        assert 0 < latency["p50"] <= latency["p99"]
    # Its topics and its database are gone.
    run = result["run"]
    async with admin(servers.as_kafka_user(KafkaRole.ADMIN)) as client:
        topics = set(await client.list_topics())
    assert [t for t in topics if t.startswith(f"bench-{run}.")] == []
    async with connect(with_database(servers.postgres_dsn, "postgres")) as conn:
        found = await conn.fetchval(
            "SELECT count(*) FROM pg_database WHERE datname = $1", f"casetrail_bench_{run}"
        )
    assert found == 0
