-- One row per event known to the database: counts and the model that answers its lookups.
SELECT p.event,
       count(*)                                        AS photos,
       coalesce(sum(p.face_count), 0)                  AS faces,
       (SELECT m.model_id FROM event_models m
         WHERE m.event = p.event AND m.serving)        AS serving_model,
       (SELECT array_agg(m.model_id ORDER BY m.model_id) FROM event_models m
         WHERE m.event = p.event)                      AS models,
       (SELECT count(*) FROM skipped_files s WHERE s.event = p.event) AS skipped,
       max(p.ingested_at)                              AS last_ingested
FROM photos p
GROUP BY p.event
ORDER BY p.event
