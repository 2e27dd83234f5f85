"""BlueALSA PCM names as a headband's ``device``: what check-config accepts and refuses."""

from __future__ import annotations

import pytest

from sleepsound.outputs.bluealsa_name import (
    ANY_DEVICE,
    BlueAlsaNameError,
    check_bluealsa_pcm,
    is_bluealsa_pcm,
    parse_bluealsa_pcm,
)

HEADBAND = "01:23:45:67:89:AB"


@pytest.mark.parametrize(
    ("name", "address", "profile"),
    [
        (f"bluealsa:DEV={HEADBAND},PROFILE=a2dp", HEADBAND, "a2dp"),
        (f"bluealsa:PROFILE=a2dp,DEV={HEADBAND}", HEADBAND, "a2dp"),  # any order by name
        ("bluealsa:DEV=01:23:45:67:89:ab,PROFILE=A2DP", HEADBAND, "a2dp"),  # lower-case hex
        (f"bluealsa:dev={HEADBAND},profile=sco", HEADBAND, "sco"),
        (f"bluealsa:DEV={HEADBAND}", HEADBAND, "a2dp"),  # PROFILE defaults to a2dp
        ("bluealsa:PROFILE=a2dp", ANY_DEVICE, "a2dp"),  # DEV defaults to the latest device
        ("bluealsa", ANY_DEVICE, "a2dp"),
        (f"bluealsa:{HEADBAND}", HEADBAND, "a2dp"),  # the positional short form
        (f"bluealsa:{HEADBAND},a2dp", HEADBAND, "a2dp"),
        (f"bluealsa:{HEADBAND},sco,cvsd,50,off,0,org.bluealsa", HEADBAND, "sco"),
        ("bluealsa:DEV=00:00:00:00:00:00,PROFILE=a2dp", ANY_DEVICE, "a2dp"),
    ],
)
def test_good_names_give_the_address_and_profile(name: str, address: str, profile: str) -> None:
    assert check_bluealsa_pcm(name) is None
    pcm = parse_bluealsa_pcm(name)
    assert (pcm.address, pcm.profile) == (address, profile)
    assert pcm.any_device == (address == ANY_DEVICE)
    assert pcm.disconnect_address == (None if address == ANY_DEVICE else address)


def test_the_other_parameters_are_kept_in_bluealsas_order() -> None:
    pcm = parse_bluealsa_pcm(
        f"bluealsa:SRV=org.bluealsa,SOFTVOL=on,VOL=40+,DEV={HEADBAND},CODEC=aptx:4f00,DELAY=-20"
    )
    assert pcm.options == (
        ("CODEC", "aptx:4f00"),
        ("VOL", "40+"),
        ("SOFTVOL", "on"),
        ("DELAY", "-20"),
        ("SRV", "org.bluealsa"),
    )


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("bluealsa:DEV=01:23:45:67:89,PROFILE=a2dp", "DEV '01:23:45:67:89' is not a Bluetooth"),
        ("bluealsa:DEV=01:23:45:67:89:AG,PROFILE=a2dp", "is not a Bluetooth address"),
        ("bluealsa:DEV=0123456789AB", "is not a Bluetooth address"),
        ("bluealsa:DEV=01-23-45-67-89-AB", "is not a Bluetooth address"),
        ("bluealsa:DEV=MyHeadband", "device names do not work"),
        ("bluealsa:DEV=,PROFILE=a2dp", "DEV '' is not a Bluetooth address"),
        (f"bluealsa:DEV={HEADBAND},PROFILE=hfp", "PROFILE 'hfp' is not a profile; use a2dp"),
        (f"bluealsa:DEV={HEADBAND},PROFILE=", "PROFILE '' is not a profile"),
        (f"bluealsa:DEV={HEADBAND},PROFILE=a2dp,VOL=150", "VOL '150' is not a volume"),
        (f"bluealsa:DEV={HEADBAND},SOFTVOL=maybe", "SOFTVOL 'maybe' is not on, off"),
        (f"bluealsa:DEV={HEADBAND},DELAY=soon", "DELAY 'soon' is not a whole number"),
        (f"bluealsa:DEV={HEADBAND},SRV=org.evil", "is not a BlueALSA service name"),
        (f"bluealsa:DEV={HEADBAND},PROFILE=a2dp,COLOUR=blue", "unknown parameter 'COLOUR'"),
        (f"bluealsa:DEV={HEADBAND},DEV={HEADBAND}", "DEV is given twice"),
        (f"bluealsa:DEV={HEADBAND},a2dp", "mixes KEY=value and bare values"),
        (f"bluealsa:{HEADBAND},,,80+", "PROFILE is empty"),
        (f"bluealsa:{HEADBAND},a2dp,sbc,50,on,0,org.bluealsa,extra", "at most 7"),
        ("bluealsa:", "nothing after 'bluealsa:'"),
        (f"bluealsa:DEV={HEADBAND},PROFILE=a2dp,", "a stray ','"),
        (f"blue:DEV={HEADBAND}", "does not start with 'bluealsa:'"),
        (f"hw:CARD=0,DEV={HEADBAND}", "does not start with 'bluealsa:'"),
        (f" bluealsa:DEV={HEADBAND}", "contains ' '"),
        (f"bluealsa:DEV={HEADBAND},PROFILE=a2dp\npcm.evil {{ type hw }}", "contains '\\n'"),
        (f'bluealsa:DEV="{HEADBAND}"', "contains '\"'"),
        (f"bluealsa:DEV={HEADBAND},PROFILE='a2dp'", 'contains "\'"'),
        (f"bluealsa:DEV={HEADBAND};reboot", "contains ';'"),
        (f"bluealsa:DEV={HEADBAND},SRV=$(id)", "contains '$', '(', ')'"),
        (f"bluealsa:DEV={HEADBAND}\x00", "contains '\\x00'"),
        ("bluealsa:DEV=０1:23:45:67:89:AB", "contains '０'"),  # a full-width digit
    ],
)
def test_bad_names_say_what_is_wrong_and_how_to_write_it(name: str, says: str) -> None:
    problem = check_bluealsa_pcm(name)
    assert problem is not None and says in problem, problem
    assert repr(name) in problem  # the user sees which value was read
    with pytest.raises(BlueAlsaNameError, match="bluealsa PCM"):
        parse_bluealsa_pcm(name)


def test_the_message_shows_the_form_to_use() -> None:
    problem = check_bluealsa_pcm("bluealsa:")
    assert problem is not None and "bluealsa:DEV=01:23:45:67:89:AB,PROFILE=a2dp" in problem


def test_a_value_that_is_not_text_is_a_clear_problem() -> None:
    problem = check_bluealsa_pcm(42)  # type: ignore[arg-type]
    assert problem is not None and "must be text" in problem


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("bluealsa", True),
        (f"bluealsa:DEV={HEADBAND}", True),
        ("default", False),
        ("plughw:CARD=Headphones", False),
        ("bluealsaX", False),
    ],
)
def test_is_bluealsa_pcm_tells_headband_names_from_sound_cards(name: str, meant: bool) -> None:
    assert is_bluealsa_pcm(name) is meant
