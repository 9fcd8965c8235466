SELECT pgw.consume_lanes(100, '{t0,t1}');
