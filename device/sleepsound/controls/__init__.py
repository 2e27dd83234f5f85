"""Physical controls: a bedside button, a volume knob and a status LED.

A pure core that knows nothing of GPIO (every function is given the time, none reads
a clock) and a thin gpiozero adapter that feeds it:

- :mod:`~sleepsound.controls.gestures`: single, double and long press from raw edges.
- :mod:`~sleepsound.controls.encoder`: quadrature decoding and acceleration.
- :mod:`~sleepsound.controls.pot`: a potentiometer reading as a steady volume.
- :mod:`~sleepsound.controls.led`: the status LED's brightness over time.
- :mod:`~sleepsound.controls.schema`: the ``[controls]`` and ``[led]`` config sections.
- :mod:`~sleepsound.controls.hardware`: gpiozero edges and time in, commands and events out.
- :mod:`~sleepsound.controls.wiring`: gpiozero devices built from config on an injected
  pin factory, and the wiring problems found.
- :mod:`~sleepsound.controls.led_output`: the LED's level on its PWM pin.
- :mod:`~sleepsound.controls.finger`: presses and turns on gpiozero's mock pins.
"""
