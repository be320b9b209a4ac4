#include <stdio.h>
#include <retrograd.h>

int main(void)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = rg_param(g, "x", 0, NULL, (double[]){2.0});
    rg_node *w = rg_param(g, "w", 0, NULL, (double[]){-3.0});
    rg_node *b = rg_param(g, "b", 0, NULL, (double[]){6.8813735870195432});
    rg_node *y = rg_tanh(rg_add(rg_mul(x, w), b));     /* y = tanh(x*w + b) */
    rg_node *grads[3];
    if (rg_grad(y, 3, (rg_node *[]){x, w, b}, grads) != RG_OK ||
        rg_eval(g, 4, (rg_node *[]){y, grads[0], grads[1], grads[2]}) != RG_OK)
        return fprintf(stderr, "%s\n", rg_graph_errmsg(g)), 1;
    printf("y = %g  dy/dx = %g  dy/dw = %g  dy/db = %g\n", rg_node_item(y),
           rg_node_item(grads[0]), rg_node_item(grads[1]), rg_node_item(grads[2]));
    rg_graph_free(g);
}
