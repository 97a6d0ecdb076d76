"""Composition patterns as real users write them: pydantic v2 models whose `model_json_schema()`
is sent as a strict `response_format` (issue 15, "a corpus of composition patterns").

Inheritance, optional fields and defaults, unions (plain, nullable, discriminated), enums and
`Literal`, nested lists/dicts of models, recursion, constrained fields, datetime/UUID and aliases.
Left out on purpose: `set[...]` (`uniqueItems: true`, which the backend cannot enforce: strict
refuses it, rightly). Strings and lists are bounded where a small model would otherwise run to
`max_tokens` in the end-to-end test; the unbounded forms are covered too (`Note`, `Tree`).
"""

from __future__ import annotations

import datetime
import enum
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, conint, constr

Short = Annotated[str, Field(max_length=12)]


class Color(enum.StrEnum):
    """A string enum."""

    RED = "red"
    GREEN = "green"


class Priority(enum.IntEnum):
    """An integer enum."""

    LOW = 1
    HIGH = 2


class Entity(BaseModel):
    """Base of an inheritance chain."""

    id: conint(ge=0, le=999)  # type: ignore[valid-type]


class User(Entity):
    """Inherits `id`, adds required and optional fields."""

    name: Short
    email: Short | None = None


class Admin(User):
    """Two levels of inheritance, a list of literals."""

    permissions: list[Literal["read", "write"]] = Field(default_factory=list, max_length=3)


class Address(BaseModel):
    """A nested model."""

    city: Short
    zip: constr(pattern=r"^[0-9]{5}$")  # type: ignore[valid-type]


class Customer(Entity):
    """A nullable nested model (anyOf [$ref, null]) and a described one ($ref with siblings)."""

    home: Address | None = None
    work: Address = Field(description="Where the customer works.")


class Cat(BaseModel):
    """One member of a discriminated union."""

    kind: Literal["cat"]
    lives: conint(ge=1, le=9)  # type: ignore[valid-type]


class Dog(BaseModel):
    """The other member."""

    kind: Literal["dog"]
    good: bool = True


class Pets(BaseModel):
    """A discriminated union (oneOf + discriminator) and a plain union of models (anyOf)."""

    favourite: Annotated[Cat | Dog, Field(discriminator="kind")]
    other: Cat | Dog | None = None


class Item(BaseModel):
    """An order line."""

    sku: constr(pattern=r"^[A-Z]{3}-[0-9]{2}$")  # type: ignore[valid-type]
    quantity: conint(ge=1, le=20) = 1  # type: ignore[valid-type]
    price: float = Field(ge=0, le=1000)


class Order(BaseModel):
    """Lists and dicts of models, enums, a tuple."""

    items: list[Item] = Field(max_length=3)
    by_warehouse: dict[str, Item] = Field(default_factory=dict, max_length=2)
    color: Color
    priority: Priority = Priority.LOW
    dims: tuple[int, int] | None = None


class Tree(BaseModel):
    """A recursive model."""

    label: str
    children: list[Tree] = []


class Event(BaseModel):
    """datetime, date, UUID."""

    id: uuid.UUID
    at: datetime.datetime
    day: datetime.date | None = None


class Profile(BaseModel):
    """Aliases (the schema names the aliases; either name validates)."""

    model_config = ConfigDict(populate_by_name=True)

    user_name: Short = Field(alias="userName")
    is_active: bool = Field(True, alias="isActive")
    score: Annotated[float, Field(ge=0, le=1)] | None = None


class Note(BaseModel):
    """Unbounded strings and an open-ended dict of scalars."""

    title: str
    tags: list[str] = []
    extra: dict[str, int | str] = {}


class Strict(BaseModel):
    """`extra="forbid"`: the schema closes itself."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["a", "b"] = "a"
    user: User | None = None


class Envelope(BaseModel):
    """Everything nested once more: inherited models inside unions inside lists."""

    actors: list[User | Admin] = Field(max_length=2)
    pets: Pets | None = None


MODELS: tuple[type[BaseModel], ...] = (
    User,
    Admin,
    Customer,
    Pets,
    Order,
    Tree,
    Event,
    Profile,
    Note,
    Strict,
    Envelope,
)


def corpus() -> dict[str, tuple[type[BaseModel], dict[str, Any]]]:
    """Model name -> (model, its JSON schema as pydantic writes it)."""
    return {model.__name__: (model, model.model_json_schema()) for model in MODELS}


_PET = {
    "type": "object",
    "properties": {"id": {"type": "integer", "minimum": 0}, "name": {"type": "string"}},
    "required": ["id", "name"],
}
_CONTACT = {"type": "string", "maxLength": 20}
_SHAPE = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


def _variant(kind: str, size: str) -> dict[str, Any]:
    """A typed variant of Shape, told apart by `kind` (a oneOf the backend proves disjoint)."""
    return {
        "type": "object",
        "$ref": "#/$defs/Shape",
        "properties": {"kind": {"const": kind}, size: {"type": "number", "minimum": 0}},
        "required": ["kind", size],
    }


HANDWRITTEN: dict[str, tuple[dict[str, Any], Any]] = {
    "openapi_allOf_inheritance": (
        {
            "$defs": {"Pet": _PET},
            "allOf": [
                {"$ref": "#/$defs/Pet"},
                {
                    "type": "object",
                    "properties": {"barks": {"type": "boolean"}},
                    "required": ["barks"],
                },
            ],
        },
        {"id": 1, "name": "Rex", "barks": True},
    ),
    "ref_extended_by_local_properties": (
        {
            "$defs": {"Pet": _PET},
            "$ref": "#/$defs/Pet",
            "properties": {"owner": {"type": "string"}},
            "required": ["owner"],
        },
        {"id": 1, "name": "Rex", "owner": "Ann"},
    ),
    "ref_chain_each_extending": (
        {
            "$defs": {
                "Pet": _PET,
                "Dog": {"$ref": "#/$defs/Pet", "properties": {"breed": {"type": "string"}}},
            },
            "$ref": "#/$defs/Dog",
            "properties": {"tag": {"type": "integer"}},
            "required": ["tag", "breed"],
        },
        {"id": 1, "name": "Rex", "breed": "pug", "tag": 7},
    ),
    "properties_plus_anyOf_requiring_others": (
        {
            "type": "object",
            "properties": {"name": {"type": "string"}},
            "required": ["name"],
            "anyOf": [
                {"properties": {"email": _CONTACT}, "required": ["email"]},
                {"properties": {"phone": _CONTACT}, "required": ["phone"]},
            ],
        },
        {"name": "Ann", "phone": "555"},
    ),
    "oneOf_variants_extending_a_base": (
        {
            "$defs": {"Shape": _SHAPE},
            "oneOf": [_variant("circle", "r"), _variant("square", "side")],
        },
        {"name": "a", "kind": "square", "side": 2},
    ),
    "pydantic_v1_allOf_wrapped_ref": (
        {
            "$defs": {"Pet": _PET},
            "type": "object",
            "properties": {"pet": {"allOf": [{"$ref": "#/$defs/Pet"}], "description": "a pet"}},
            "required": ["pet"],
        },
        {"pet": {"id": 1, "name": "Rex"}},
    ),
}
"""Compositions written by hand (OpenAPI inheritance, extended `$ref`s, alternatives beside a
base): name -> (schema, a valid instance that uses the composed properties)."""
