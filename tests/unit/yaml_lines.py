# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A YAML loader for the unit tests that read the collection's own YAML (tasks, playbooks).

It is a SafeLoader that keeps Ansible's own tags (!unsafe, !vault) as plain values and
records the line of every mapping under the key ``__line__``, so a test can name the file
and line of what it refuses.
"""

from __future__ import annotations

import yaml


class LineLoader(yaml.SafeLoader):
    """SafeLoader with Ansible's tags as plain values and ``__line__`` in every mapping."""


def _any_tag(loader, _suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


def _mapping_with_line(loader, node):
    loader.flatten_mapping(node)
    data = loader.construct_mapping(node, deep=True)
    data['__line__'] = node.start_mark.line + 1
    return data


LineLoader.add_multi_constructor('!', _any_tag)
LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)
