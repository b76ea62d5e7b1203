import pytest

from fantastic_ascii import frame


def test_single_line():
    assert frame("hello") == "+-------+\n| hello |\n+-------+"


def test_multi_line_is_padded_to_widest():
    assert frame("a\nlonger") == "\n".join(["+--------+", "| a      |", "| longer |", "+--------+"])


def test_empty_message_still_draws_a_box():
    assert frame("") == "+--+\n|  |\n+--+"


def test_custom_border_and_padding():
    assert frame("x", border="*=!", padding=0) == "*=*\n!x!\n*=*"


@pytest.mark.parametrize(("kwargs", "error"), [({"border": "++"}, "three"), ({"padding": -1}, "negative")])
def test_bad_arguments(kwargs, error):
    with pytest.raises(ValueError, match=error):
        frame("x", **kwargs)
