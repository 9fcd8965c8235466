SELECT pgw.consume_floor(100, '{t0,t1}');
