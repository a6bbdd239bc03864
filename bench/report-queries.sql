-- The grouped passes `switchboard report results` makes (src/store/report.rs), as plain SQL for
-- the sqlite3 CLI: the reference bench/report.sh times against. No period (every dial).
SELECT state, outcome, COUNT(*) FROM jobs WHERE campaign_id = 'results' GROUP BY state, outcome;
SELECT attempt_no, state, outcome,
       CASE WHEN call_length IS NULL THEN 0 WHEN call_length <= 0 THEN 1 WHEN call_length < 0.5 THEN 2
            WHEN call_length < 1 THEN 3 WHEN call_length < 2 THEN 4 WHEN call_length < 5 THEN 5
            WHEN call_length < 10 THEN 6 ELSE 7 END AS bucket,
       COUNT(*), TOTAL(call_length), TOTAL(price)
FROM attempts WHERE campaign_id = 'results' AND state != 'not_sent' GROUP BY attempt_no, state, outcome, bucket;
SELECT j.timezones, j.regions, a.dialed_at - (a.dialed_at % 900000) AS quarter, a.outcome, COUNT(*)
FROM attempts a JOIN jobs j ON j.id = a.job_id
WHERE a.campaign_id = 'results' AND a.state != 'not_sent' AND a.outcome IS NOT NULL GROUP BY j.timezones, j.regions, quarter, a.outcome;
SELECT dials, human, COUNT(*) FROM (
    SELECT COUNT(*) AS dials, MAX(outcome IS 'human') AS human FROM attempts
    WHERE campaign_id = 'results' AND state != 'not_sent' GROUP BY job_id)
GROUP BY dials, human;
SELECT COALESCE(NULLIF(error_message, ''), NULLIF(send_error, ''), '(no reason given)') AS reason, COUNT(*) AS n
FROM attempts WHERE campaign_id = 'results' AND state != 'not_sent' AND outcome = 'failed'
GROUP BY reason ORDER BY n DESC LIMIT 10;
SELECT je.key, je.type, COUNT(*), MIN(je.value), TOTAL(je.value), MAX(je.value)
FROM attempts a, json_each(a.analysis) je
WHERE a.campaign_id = 'results' AND a.state != 'not_sent' AND a.outcome = 'human' GROUP BY je.key, je.type;
SELECT json_extract(c.questions, '$[' || je.key || '][0]'), je.type, je.value, COUNT(*)
FROM call_analyses c, json_each(c.answers) je
WHERE c.campaign_id = 'results' AND c.state = 'done' GROUP BY 1, 2, 3 ORDER BY 4 DESC LIMIT 40;
