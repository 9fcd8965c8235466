INSERT INTO pgw.ready (lane, task, payload) SELECT (SELECT cur FROM pgw.lane_state), 't' || (g % 2), '{"n":1}' FROM generate_series(1,100) g;
