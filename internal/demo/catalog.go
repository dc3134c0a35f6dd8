package demo

import "fmt"

// product is one article both mock systems know: the shop sells it, the
// ERP holds its stock.
type product struct {
	SKU   string
	Price float64
}

// catalog returns the demo's 60 products, the same for every seed. A
// function, not a package variable, so nothing global can be changed.
func catalog() []product {
	kinds := []struct {
		prefix string
		price  float64
	}{
		{"TEE", 19.90}, {"HOODIE", 49.00}, {"CAP", 14.50}, {"MUG", 9.90},
		{"BAG", 34.00}, {"SOCKS", 7.95}, {"JACKET", 129.00}, {"BOOTS", 89.50},
		{"LAMP", 59.00}, {"CHAIR", 249.00}, {"DESK", 389.00}, {"EBIKE", 1890.00},
	}
	var out []product
	for _, k := range kinds {
		for v := 1; v <= 5; v++ {
			out = append(out, product{SKU: fmt.Sprintf("%s-%03d", k.prefix, v), Price: k.price + float64(v-1)*2})
		}
	}
	return out
}
