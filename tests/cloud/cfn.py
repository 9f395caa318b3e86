"""Just enough CloudFormation to read our templates as the deployed stack would be.

The YAML short forms (``!Ref``, ``!Sub``, ``!GetAtt``, ``!If``, ...) load as their long
forms, then ``Template.resolve`` evaluates intrinsic functions against parameter values,
conditions and made-up physical ids. An intrinsic this module does not know raises
``Unsupported``: a template change the emulated edge cannot follow fails loudly instead
of being ignored.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

NO_VALUE = object()
NAME_PROPERTY = {
    "AWS::ApiGateway::Stage": "StageName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::S3::Bucket": "BucketName",
}  # AWS::NoValue: the property or list item disappears


class Unsupported(ValueError):
    """A template construct the emulation does not implement."""


class _Loader(yaml.SafeLoader):
    pass


def _tag(name: str) -> Any:
    long = name if name == "Ref" else f"Fn::{name}"

    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "GetAtt":
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {long: value}

    return construct


for _name in (
    "Ref", "Sub", "GetAtt", "If", "Equals", "Not", "And", "Or", "Select", "Split", "Join",
    "Base64", "GetAZs", "ImportValue", "FindInMap", "Condition",
):  # fmt: skip
    _Loader.add_constructor(f"!{_name}", _tag(_name))


def load(path: Path) -> dict[str, Any]:
    """The template as a plain dict, short-form tags turned into their long forms."""
    document: dict[str, Any] = yaml.load(path.read_text("utf-8"), Loader=_Loader)
    return document


@dataclass
class Template:
    """One template with its parameter values: what a deployed stack would hold."""

    body: dict[str, Any]
    parameters: dict[str, str] = field(default_factory=dict)
    stack_name: str = "vote-emul"
    region: str = "us-west-2"
    partition: str = "aws"
    account: str = "123456789012"

    def __post_init__(self) -> None:
        self.body = copy.deepcopy(self.body)
        declared = self.body.get("Parameters", {})
        for name, spec in declared.items():
            if name not in self.parameters:
                if "Default" not in spec:
                    raise Unsupported(f"parameter {name} has no default: give a value")
                self.parameters[name] = str(spec["Default"])
        unknown = set(self.parameters) - set(declared)
        if unknown:
            raise Unsupported(f"parameters not in the template: {sorted(unknown)}")

    @property
    def url_suffix(self) -> str:
        return "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"

    def resource(self, logical_id: str) -> dict[str, Any]:
        """A resource's properties, resolved (conditions applied, NoValue removed)."""
        try:
            node = self.body["Resources"][logical_id]
        except KeyError as exc:
            raise Unsupported(f"no resource {logical_id}") from exc
        props: dict[str, Any] = self.resolve(node.get("Properties", {}))
        return props

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        """Every resource of one type whose condition holds: logical id -> properties."""
        found = {}
        for logical_id, node in self.body["Resources"].items():
            if node["Type"] == kind and self.condition_holds(node.get("Condition")):
                found[logical_id] = self.resource(logical_id)
        return found

    def condition_holds(self, name: str | None) -> bool:
        if name is None:
            return True
        return bool(self.resolve(self.body["Conditions"][name]))

    # -- physical values of resources, invented but stable --------------------------

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::StackName": self.stack_name,
            "AWS::Region": self.region,
            "AWS::Partition": self.partition,
            "AWS::AccountId": self.account,
            "AWS::URLSuffix": self.url_suffix,
            "AWS::NoValue": NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            kind = self.body["Parameters"][name].get("Type", "String")
            return (
                self.parameters[name].split(",")
                if kind.startswith("List<")
                else (self.parameters[name])
            )
        resources = self.body.get("Resources", {})
        if name in resources:
            # Ref of these types is a name the template may set itself (CloudFormation's
            # documented return values); otherwise an invented, stable id.
            named = NAME_PROPERTY.get(resources[name]["Type"])
            props = resources[name].get("Properties", {})
            if named and named in props:
                return self.resolve(props[named])
            return f"{self.stack_name}-{name}".lower()
        raise Unsupported(f"!Ref {name}: neither a parameter nor a resource")

    def get_att(self, logical_id: str, attribute: str) -> str:
        physical = self.ref(logical_id)
        if attribute == "FunctionUrl":
            return f"https://{physical}.lambda-url.{self.region}.on.aws/"
        if attribute == "RegionalDomainName":
            return f"{physical}.s3.{self.region}.{self.url_suffix}"
        if attribute == "Id":
            return str(physical)
        if attribute == "Arn":
            return f"arn:{self.partition}:emulated:{self.region}:{self.account}:{physical}"
        return f"{physical}.{attribute}"

    def logical_of(self, physical: str) -> str:
        """The resource a physical id (from ``ref``) names."""
        for logical_id in self.body.get("Resources", {}):
            if self.ref(logical_id) == physical:
                return str(logical_id)
        raise Unsupported(f"{physical} is no resource of this template")

    # -- intrinsic functions -----------------------------------------------------------

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key.startswith("Fn::") or key == "Condition":
                return self._function(key.removeprefix("Fn::"), arg)
        out = {}
        for key, value in node.items():
            resolved = self.resolve(value)
            if resolved is not NO_VALUE:
                out[key] = resolved
        return out

    def _function(self, name: str, arg: Any) -> Any:
        if name == "Condition":
            return self.condition_holds(arg)
        if name == "If":
            condition, yes, no = arg
            return self.resolve(yes if self.condition_holds(condition) else no)
        if name == "Equals":
            left, right = (self.resolve(a) for a in arg)
            return str(left) == str(right)
        if name == "Not":
            return not self.resolve(arg[0])
        if name == "And":
            return all(self.resolve(a) for a in arg)
        if name == "Or":
            return any(self.resolve(a) for a in arg)
        if name == "GetAtt":
            logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            return self.get_att(logical_id, attribute)
        if name == "Sub":
            return self._sub(arg)
        if name == "Select":
            index, items = self.resolve(arg[0]), self.resolve(arg[1])
            return items[int(index)]
        if name == "Split":
            separator, text = arg[0], self.resolve(arg[1])
            return str(text).split(separator)
        if name == "Join":
            separator, items = arg[0], self.resolve(arg[1])
            return separator.join(str(i) for i in items)
        raise Unsupported(f"Fn::{name} is not emulated")

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        values = {k: self.resolve(v) for k, v in variables.items()}

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in values:
                return str(values[name])
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return self.get_att(logical_id, attribute)
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", one, text)
