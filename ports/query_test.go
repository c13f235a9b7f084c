package ports_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/portkit/portkit/ports"
)

func TestQueryZeroValueIsAll(t *testing.T) {
	if !reflect.DeepEqual(ports.Query{}, ports.All()) {
		t.Errorf("All() = %#v, want the zero Query", ports.All())
	}
	q := ports.All()
	if len(q.Conditions()) != 0 || len(q.Orders()) != 0 || q.LimitN() != 0 || q.OffsetN() != 0 {
		t.Errorf("All() has conditions %v, orders %v, limit %d, offset %d; want none", q.Conditions(), q.Orders(), q.LimitN(), q.OffsetN())
	}
}

func TestQueryBuilds(t *testing.T) {
	q := ports.Where("Status", ports.Eq, "open").And("Total", ports.Gte, 100).OrderBy("-CreatedAt", "ID").Limit(20).Offset(40)
	wantConds := []ports.Condition{{Field: "Status", Op: ports.Eq, Value: "open"}, {Field: "Total", Op: ports.Gte, Value: 100}}
	if !reflect.DeepEqual(q.Conditions(), wantConds) {
		t.Errorf("Conditions() = %v, want %v", q.Conditions(), wantConds)
	}
	wantOrders := []ports.Order{{Field: "CreatedAt", Desc: true}, {Field: "ID"}}
	if !reflect.DeepEqual(q.Orders(), wantOrders) {
		t.Errorf("Orders() = %v, want %v", q.Orders(), wantOrders)
	}
	if q.LimitN() != 20 || q.OffsetN() != 40 {
		t.Errorf("LimitN, OffsetN = %d, %d, want 20, 40", q.LimitN(), q.OffsetN())
	}
	if q.Limit(5).LimitN() != 5 || q.Offset(0).OffsetN() != 0 {
		t.Errorf("Limit and Offset do not replace the previous values")
	}
}

// TestQueryImmutable extends one base query in two directions: neither
// extension may see the other's terms, nor may the base change. The base
// is built with several appends so that its slices have spare capacity, the
// case where a naive append would share the backing array.
func TestQueryImmutable(t *testing.T) {
	base := ports.Where("A", ports.Eq, 1).And("B", ports.Eq, 2).And("C", ports.Eq, 3).OrderBy("X").OrderBy("Y").OrderBy("Z").Limit(7).Offset(3)
	baseConds := append([]ports.Condition(nil), base.Conditions()...)
	baseOrders := append([]ports.Order(nil), base.Orders()...)

	tests := []struct {
		name  string
		build func(ports.Query) ports.Query
	}{
		{"And", func(q ports.Query) ports.Query { return q.And("D", ports.Ne, 4) }},
		{"OrderBy", func(q ports.Query) ports.Query { return q.OrderBy("-W") }},
		{"Limit", func(q ports.Query) ports.Query { return q.Limit(99) }},
		{"Offset", func(q ports.Query) ports.Query { return q.Offset(99) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q1 := tc.build(base)
			q2 := base.And("E", ports.Lt, 5).OrderBy("V")
			if !reflect.DeepEqual(base.Conditions(), baseConds) || !reflect.DeepEqual(base.Orders(), baseOrders) ||
				base.LimitN() != 7 || base.OffsetN() != 3 {
				t.Fatalf("%s changed the receiver: %s", tc.name, base)
			}
			if got := q1.Conditions(); len(got) > 3 && got[3].Field != "D" {
				t.Errorf("extension 1 sees condition %q of extension 2", got[3].Field)
			}
			if got := q2.Conditions(); got[3].Field != "E" {
				t.Errorf("extension 2 has condition %q at index 3, want E", got[3].Field)
			}
			if got := q2.Orders(); got[3].Field != "V" {
				t.Errorf("extension 2 has order %q at index 3, want V", got[3].Field)
			}
			if got := q1.Orders(); len(got) > 3 && (got[3].Field != "W" || !got[3].Desc) {
				t.Errorf("extension 1 has order %+v at index 3, want -W", got[3])
			}
		})
	}
}

func TestOrderByParsing(t *testing.T) {
	tests := []struct {
		fields []string
		want   []ports.Order
	}{
		{[]string{"Name"}, []ports.Order{{Field: "Name"}}},
		{[]string{"-Name"}, []ports.Order{{Field: "Name", Desc: true}}},
		{[]string{"+Name"}, []ports.Order{{Field: "Name"}}},
		{[]string{"Address.City"}, []ports.Order{{Field: "Address.City"}}},
		{[]string{"-Address.City"}, []ports.Order{{Field: "Address.City", Desc: true}}},
		{[]string{"-A", "B", "+C"}, []ports.Order{{Field: "A", Desc: true}, {Field: "B"}, {Field: "C"}}},
		{[]string{"--A"}, []ports.Order{{Field: "-A", Desc: true}}}, // only one prefix is a direction
		{[]string{"-"}, []ports.Order{{Field: "", Desc: true}}},
		{[]string{""}, []ports.Order{{Field: ""}}},
		{nil, nil},
	}
	for _, tc := range tests {
		got := ports.All().OrderBy(tc.fields...).Orders()
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("OrderBy(%q).Orders() = %+v, want %+v", tc.fields, got, tc.want)
		}
	}
	chained := ports.All().OrderBy("-A").OrderBy("B").Orders()
	if want := []ports.Order{{Field: "A", Desc: true}, {Field: "B"}}; !reflect.DeepEqual(chained, want) {
		t.Errorf("OrderBy(-A).OrderBy(B) = %+v, want %+v (keys append, most significant first)", chained, want)
	}
}

func TestOpValid(t *testing.T) {
	for _, op := range []ports.Op{ports.Eq, ports.Ne, ports.Lt, ports.Lte, ports.Gt, ports.Gte, ports.In} {
		if !op.Valid() {
			t.Errorf("Op(%q).Valid() = false, want true", op)
		}
	}
	for _, op := range []ports.Op{"", "==", "<>", "IN", "like", "$eq", "= 1 OR 1"} {
		if op.Valid() {
			t.Errorf("Op(%q).Valid() = true, want false", op)
		}
	}
}

func TestQueryString(t *testing.T) {
	tests := []struct {
		q    ports.Query
		want string
	}{
		{ports.All(), "Query{}"},
		{ports.Where("A", ports.Eq, 1), "Query{A = ?}"},
		{ports.Where("A", ports.In, []int{1}).And("B.C", ports.Lte, 2), "Query{A in ? AND B.C <= ?}"},
		{ports.All().OrderBy("-A", "B"), "Query{ ORDER BY A DESC, B}"},
		{ports.All().Limit(5), "Query{ LIMIT 5}"},
		{ports.All().Offset(5), "Query{ OFFSET 5}"},
		{ports.Where("Status", ports.Ne, "x").OrderBy("-CreatedAt").Limit(20).Offset(40), "Query{Status != ? ORDER BY CreatedAt DESC LIMIT 20 OFFSET 40}"},
	}
	for _, tc := range tests {
		if got := tc.q.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
	secret := ports.Where("Password", ports.Eq, "hunter2").String()
	if strings.Contains(secret, "hunter2") {
		t.Errorf("String() = %q shows a condition's value; values must be elided", secret)
	}
}
