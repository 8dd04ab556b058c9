-- Worked SQL queries over a Stampede store (the SQLite file the coordinator writes).
--
-- Run them all for one run with the sqlite3 shell:
--   sqlite3 -header -column -cmd ".parameter set :run_id 'RUN_ID'" stampede.db < docs/queries.sql
-- or copy one into any SQLite tool and replace :run_id. The first query lists the run ids.
-- tests/store_test.cc runs every statement in this file against a small store, so keep each one
-- preceded by a "-- name:" line.
--
-- Tables (schema version 1, PRAGMA user_version):
--   runs        one row per run; report is the final RunReport (protobuf bytes).
--   run_agents  one row per (run, agent): region, labels "k=v,k=v", clock offset, totals.
--   records     one row per request:
--     ts_ns           request start on the coordinator's timeline (Unix epoch ns, already
--                     corrected by the agent's clock offset); for open-model stages this is the
--                     *intended* send time
--     latency_us      from ts_ns to the end of the response (includes time waiting to be sent)
--     service_us      from the actual send to the end of the response
--     status          HTTP status, 0 when no response arrived
--     error           'none', 'connect', 'dns', 'tls', 'timeout', 'reset', 'http_4xx',
--                     'http_5xx', 'protocol', 'send', 'other', 'aborted' (error_code: the number)
--     stage           index of the plan stage, from 0
-- Every query filters on run_id first: the index records_by_run_ts(run_id, ts_ns) serves it.

-- name: recent_runs
-- The latest runs, newest first: pick a run_id here.
-- Times are 0 until the run has started / ended: shown as NULL then.
SELECT run_id, plan_name, state,
       CASE WHEN started_ns > 0
            THEN strftime('%Y-%m-%d %H:%M:%S', started_ns / 1e9, 'unixepoch') END AS started_utc,
       CASE WHEN started_ns > 0 AND ended_ns > 0
            THEN ROUND((ended_ns - started_ns) / 1e9, 1) END AS duration_s,
       requests, errors, agents
FROM runs
ORDER BY rowid DESC
LIMIT 20;

-- name: requests_per_second_per_region
-- Average rate of each region over the whole run's span (first to last request of any region),
-- so the regions' rates add up to the run's rate; and the busiest single second of each region.
WITH span AS (
  SELECT (MAX(ts_ns) - MIN(ts_ns)) / 1e9 AS seconds
  FROM records WHERE run_id = :run_id),
per_second AS (
  SELECT region, ts_ns / 1000000000 AS second, COUNT(*) AS requests,
         SUM(error = 'none') AS ok
  FROM records WHERE run_id = :run_id
  GROUP BY region, second)
SELECT region,
       SUM(requests) AS requests,
       ROUND(SUM(requests) / (SELECT seconds FROM span), 1) AS avg_per_s,
       ROUND(SUM(ok) / (SELECT seconds FROM span), 1) AS avg_ok_per_s,
       MAX(requests) AS peak_per_s
FROM per_second
GROUP BY region
ORDER BY region;

-- name: error_share_per_agent
-- Share of failed requests per agent. One agent far above the others points at that agent's
-- network path or VM rather than at the service.
SELECT agent, region,
       COUNT(*) AS requests,
       SUM(error <> 'none') AS errors,
       ROUND(100.0 * SUM(error <> 'none') / COUNT(*), 2) AS error_pct
FROM records
WHERE run_id = :run_id
GROUP BY agent, region
ORDER BY agent;

-- name: error_classes_per_agent
-- The same, broken down by error class: share of each class within the agent's requests.
-- SUM(COUNT(*)) OVER (PARTITION BY agent) is the agent's total, computed after the GROUP BY.
SELECT agent, error,
       COUNT(*) AS requests,
       ROUND(100.0 * COUNT(*) / SUM(COUNT(*)) OVER (PARTITION BY agent), 2) AS pct_of_agent
FROM records
WHERE run_id = :run_id
GROUP BY agent, error
ORDER BY agent, requests DESC;

-- name: latency_percentiles_per_stage
-- Nearest-rank percentiles per stage (SQLite has no percentile function). ROW_NUMBER() ranks the
-- latencies of each stage, COUNT(*) OVER the same partition gives n, and the p-th percentile is
-- the value at rank ceil(p/100 * n), written in integer arithmetic as (p * n + 99) / 100.
-- These are exact over the stored records; the run report's percentiles come from mergeable
-- histograms (<= 0.1% relative error) and may differ in the last digit.
-- Add "AND error = 'none'" to the WHERE clause for the latency of successful requests only.
-- The window sorts every record of the run: ~10 s for 5M records on a small VM.
WITH ranked AS (
  SELECT stage, latency_us,
         ROW_NUMBER() OVER (PARTITION BY stage ORDER BY latency_us) AS rank,
         COUNT(*) OVER (PARTITION BY stage) AS n
  FROM records
  WHERE run_id = :run_id)
SELECT stage,
       MAX(n) AS requests,
       MAX(CASE WHEN rank = (50 * n + 99) / 100 THEN latency_us END) / 1000.0 AS p50_ms,
       MAX(CASE WHEN rank = (90 * n + 99) / 100 THEN latency_us END) / 1000.0 AS p90_ms,
       MAX(CASE WHEN rank = (99 * n + 99) / 100 THEN latency_us END) / 1000.0 AS p99_ms,
       MAX(latency_us) / 1000.0 AS max_ms
FROM ranked
GROUP BY stage
ORDER BY stage;

-- name: status_code_counts
-- How many responses of each HTTP status (0 = no response: see the error column), with their
-- share of all requests. 503s appearing is the saturation signal of the ramp procedure.
SELECT status, error,
       COUNT(*) AS requests,
       ROUND(100.0 * COUNT(*) / SUM(COUNT(*)) OVER (), 2) AS pct
FROM records
WHERE run_id = :run_id
GROUP BY status, error
ORDER BY status, error;

-- name: slowest_requests
-- The 20 slowest requests. queued_ms = latency - service time: how long an open-model request
-- waited to be sent (coordinated omission made visible); near 0 in closed-model stages.
SELECT strftime('%Y-%m-%d %H:%M:%f', ts_ns / 1e9, 'unixepoch') AS start_utc,
       agent, region, stage, status, error,
       latency_us / 1000.0 AS latency_ms,
       (latency_us - service_us) / 1000.0 AS queued_ms,
       bytes_sent, bytes_received
FROM records
WHERE run_id = :run_id
ORDER BY latency_us DESC, ts_ns
LIMIT 20;

-- name: throughput_timeline_per_agent
-- Requests, errors and latency per second of the run, per agent: shows ramps, stalls and when
-- each agent started (a late start shows as an agent missing from the first seconds).
-- Seconds count from the run's first request.
WITH t0 AS (
  SELECT MIN(ts_ns) AS ns FROM records WHERE run_id = :run_id)
SELECT (ts_ns - (SELECT ns FROM t0)) / 1000000000 AS second,
       agent,
       COUNT(*) AS requests,
       SUM(error <> 'none') AS errors,
       ROUND(AVG(latency_us) / 1000.0, 1) AS avg_ms,
       MAX(latency_us) / 1000.0 AS max_ms
FROM records
WHERE run_id = :run_id
GROUP BY second, agent
ORDER BY second, agent;
