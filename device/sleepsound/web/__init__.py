"""The phone page: the device's own web server (an adapter like MQTT).

:mod:`~sleepsound.web.settings` is the ``[web]`` config section,
:mod:`~sleepsound.web.adapter` the factory the daemon starts, :mod:`~sleepsound.web.server`
the HTTP routes, :mod:`~sleepsound.web.guard` who may ask (Host, Origin, password),
:mod:`~sleepsound.web.uploads` the sounds folder writes and :mod:`~sleepsound.web.state`
what the page is told (the state document, the library, the device). ``static/`` is the
page itself: plain HTML, CSS and JavaScript, no build step. See docs/web.md.
"""
