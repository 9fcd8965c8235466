SELECT pgw.consume_naive(100, '{t0,t1}');
