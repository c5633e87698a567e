"""The patchset pacemail computes, applied by the real cibadmin to CIB files (CIB_file=)."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from lxml import etree

from pacemail.controller import merge, patch
from pacemail.controller.build import build_cib
from pacemail.pacemaker import cib
from pacemail.pacemaker.runner import cib_file

from test_controller_plan import DRBD_FENCE, FOREIGN, descriptions

STATUS_UPDATE = '<node_state id="1" uname="node1" in_ccm="true" crmd="online"/>'


def cib_with(tmp_path, text: str = FOREIGN):
    path = tmp_path / "cib.xml"
    path.write_text(text)
    return path, cib_file(path)


def same_configuration(a: etree._Element, b: etree._Element) -> bool:
    """Equal tags, attributes and children in order (whitespace aside)."""
    return merge.same(a.find("configuration"), b.find("configuration"))


@settings(max_examples=15, deadline=None)
@given(descriptions(), descriptions())
def test_the_patch_turns_the_live_configuration_into_the_merged_one(tmp_path_factory, a, b):
    path, run = cib_with(tmp_path_factory.mktemp("cib"))
    for d in (a, b):                    # a then b: adds, changes in place and removals
        old = etree.fromstring(cib.get(run=run))
        merged = merge.merge(old, build_cib(d)).cib
        if merged.get("epoch") == old.get("epoch"):
            continue                    # nothing to change
        cib.push_patch(patch.patchset(old, merged, cib.header(run=run)), run=run)
        after = etree.parse(str(path)).getroot()
        assert same_configuration(after, merged)
        assert merge.version(after)[1] >= merge.version(merged)[1]   # the file backend bumps again


def test_a_status_update_needs_only_a_fresh_header(tmp_path):
    path, run = cib_with(tmp_path, FOREIGN.replace("<cib ", '<cib dc-uuid="2" have-quorum="1" '))
    old = etree.fromstring(cib.get(run=run))
    new = copy.deepcopy(old)
    new.find("configuration/constraints").append(etree.fromstring(DRBD_FENCE.replace(
        "pm-drbd-clone", "other")))
    new.set("epoch", "8")
    stale = cib.header(run=run)
    run(["cibadmin", "--create", "--scope", "status", "--xml-text", STATUS_UPDATE], timeout=30)
    with pytest.raises(cib.Conflict):
        cib.push_patch(patch.patchset(old, new, stale), run=run)
    cib.push_patch(patch.patchset(old, new, cib.header(run=run)), run=run)
    after = etree.parse(str(path)).getroot()
    assert same_configuration(after, new)
    assert after.find("status/node_state[@id='1']") is not None       # the status update stays
    assert (after.get("dc-uuid"), after.get("have-quorum")) == ("2", "1")
    assert int(after.get("epoch")) > 7


def test_a_configuration_change_after_the_read_is_refused(tmp_path):
    path, run = cib_with(tmp_path)
    old = etree.fromstring(cib.get(run=run))
    new = copy.deepcopy(old)
    new.find("configuration/resources").remove(new.find(".//primitive[@id='other']"))
    new.set("epoch", "8")
    run(["cibadmin", "--modify", "--xml-text",
         '<primitive id="other" description="changed by someone else"/>'], timeout=30)
    with pytest.raises(ValueError):                # the header shows the epoch moved
        patch.patchset(old, new, cib.header(run=run))
    header = dict(cib.header(run=run), epoch="7")   # a header read before the change
    with pytest.raises(cib.Conflict):
        cib.push_patch(patch.patchset(old, new, header), run=run)
    after = etree.parse(str(path)).getroot()
    assert after.find(".//primitive[@id='other']").get("description") == "changed by someone else"
