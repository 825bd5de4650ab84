"""Metering: following admitted calls over AMI, charging their blocks and cutting them at the grant."""

from callmeter.metering.call import MeteredCall
from callmeter.metering.meter import Meter, PbxControl

__all__ = ["Meter", "MeteredCall", "PbxControl"]
