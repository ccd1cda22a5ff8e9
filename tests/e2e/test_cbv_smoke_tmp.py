from cbvlib import *
from cbvlib import smx

def test_smoke(mx, dns, smx):
    dns(zone({"good.example": "127.0.0.10"}))
    r = smx("127.0.0.10", host="mx.good.example")
    m = start_mx(mx)
    rep = one_rcpt(m, "joe@good.example")
    print(rep)
    r.wait_closed()
    print(r.sessions[0].commands)
    print(cbv_rows(m, 1))
    print(cache_rows(m))
