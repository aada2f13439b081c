"""Simulators of the building's devices, so that everything runs and is tested with no
hardware: a SunSpec inverter (Modbus TCP), Linky meters over MQTT, a TIC serial port.

Run them with ``pvshare simulate inverter|meters|tic|building``.
"""
