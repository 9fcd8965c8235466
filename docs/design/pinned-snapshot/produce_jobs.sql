INSERT INTO pgw.jobs (task, payload) SELECT 't' || (g % 2), '{"n":1}' FROM generate_series(1,100) g;
