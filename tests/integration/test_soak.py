"""``casetrail bench soak`` on the real stack: it measures what it says, and leaves nothing
behind."""

from projections.db import connect
from services.adapters.kafka import admin
from services.bench.soak import bench_soak, report
from services.progress import quiet
from services.settings import KafkaRole, Settings, with_database


async def test_a_short_soak_measures_every_process_and_removes_what_it_made(
    servers: Settings,
) -> None:
    result = await bench_soak(servers, rate=20, seconds=3, say=quiet)
    run = result["run"]
    assert run["sent"] == 60
    assert run["statuses"] == {"201": 60}, run["statuses"]
    assert run["accepted"] == 60
    assert run["shed"] == 0
    assert run["unanswered"] == 0
    latency = run["gateway_latency_ms"]["accepted"]
    assert 0 < latency["p50"] <= latency["p99"]
    lag = run["projection_lag_ms"]
    assert lag["not_seen_within_drain"] == 0
    assert 0 < lag["p50"] <= lag["p99"] <= lag["max"]
    assert sum(s["accepted"] for s in run["timeline"]) == 60
    processes = {"decider", "projector", "gateway", "kafka", "postgres"}
    assert processes <= set(run["cpu"])
    for name in processes:
        assert run["cpu"][name]["cpu_s"] > 0, name
        assert run["cpu"][name]["ms_per_submission"] > 0, name
    for name in ("decider", "projector", "gateway"):
        memory = result["memory_mb"][name]
        assert memory["start"] > 10, memory
        assert memory["end"] > 10, memory
    assert "offered 20/s" in report(result)
    # Its topics and its database are gone.
    assert result["topic_prefix"].startswith("soak-")
    async with admin(servers.as_kafka_user(KafkaRole.ADMIN)) as client:
        topics = set(await client.list_topics())
    assert [t for t in topics if t.startswith(result["topic_prefix"] + ".")] == []
    async with connect(with_database(servers.postgres_dsn, "postgres")) as conn:
        found = await conn.fetchval(
            "SELECT count(*) FROM pg_database WHERE datname = $1", result["database"]
        )
    assert found == 0
