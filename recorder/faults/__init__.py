"""Faults on purpose: break a recorded or live stream the way real upstreams break.

:mod:`.spec` is the vocabulary (parsed and validated in one place), :mod:`.inject` applies it to
stream bytes, :mod:`.anatomy` asks the dialect's codec what each event means (so no dialect is
named here), :mod:`.units` finds where events end. Import them one by one: this package
loads nothing itself, so the gateway's start, which reads only :mod:`.scope`, stays light.
"""
