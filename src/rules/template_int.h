/* Internals of the alert template module shared by the parser (template.c), the evaluator
 * (template_exec.c) and Go's value formatting (template_fmt.c).
 *
 * The syntax tree lives in the template's arena and is immutable after parsing; evaluation allocates
 * values in a per-call arena, so one parsed template may run on many threads at once. */
#ifndef VG_RULES_TEMPLATE_INT_H
#define VG_RULES_TEMPLATE_INT_H

#include "rules/template.h"

#include <stdbool.h>

#define RULES_TMPL_MAX_STEPS 100000
#define RULES_TMPL_MAX_DEPTH 100
#define RULES_TMPL_MAX_QUERY_SAMPLES 10000

/* Functions callable from a template; the parser resolves names to these ids. */
typedef enum {
    TF_AND, TF_OR, TF_NOT, TF_EQ, TF_NE, TF_LT, TF_LE, TF_GT, TF_GE, TF_LEN, TF_INDEX, TF_PRINT, TF_PRINTF,
    TF_PRINTLN, TF_HTML, TF_JS, TF_URLQUERY, TF_HUMANIZE, TF_HUMANIZE1024, TF_HUMANIZEDURATION,
    TF_HUMANIZEPERCENTAGE, TF_HUMANIZETIMESTAMP, TF_TITLE, TF_TOUPPER, TF_TOLOWER, TF_REREPLACEALL, TF_MATCH,
    TF_QUERY, TF_FIRST, TF_VALUE, TF_LABEL, TF_SORTBYLABEL, TF_STRVALUE, TF_STRIPPORT, TF_SAFEHTML, TF_ARGS,
    TF_PARSEDURATION, TF_TOTIME, TF_PATHPREFIX, TF_EXTERNALURL, TF__COUNT
} tmpl_func_t;

typedef struct tmpl_func_info {
    const char *name;
    int min_args, max_args; /* max -1: variadic */
} tmpl_func_info_t;
extern const tmpl_func_info_t rules__tmpl_funcs[TF__COUNT];

typedef struct tmpl_pipe tmpl_pipe_t;

typedef enum { TA_DOT, TA_FIELD, TA_VAR, TA_FUNC, TA_STRING, TA_NUMBER, TA_BOOL, TA_NIL, TA_PIPE } tmpl_arg_kind_t;

/* One operand of a command. Fields (`.a.b` after a variable, dot or parenthesized pipeline) are in
 * fields[0..n_fields). */
typedef struct tmpl_arg {
    tmpl_arg_kind_t kind;
    int line, col;
    const char *src; /* the operand's text, for error context */
    size_t src_len;
    const char *s; /* TA_STRING value, TA_VAR name (with '$'), NUL-terminated */
    size_t s_len;
    int fn;        /* TA_FUNC */
    bool is_int;   /* TA_NUMBER: an integer constant (Go's int) rather than a float */
    int64_t i;
    double f;
    bool b;
    tmpl_pipe_t *pipe; /* TA_PIPE */
    const char **fields;
    size_t n_fields;
} tmpl_arg_t;

typedef struct tmpl_cmd {
    tmpl_arg_t **args;
    size_t n_args;
    int line, col;
    const char *src;
    size_t src_len;
} tmpl_cmd_t;

struct tmpl_pipe {
    int line, col;
    int n_decl;          /* 0, 1 or 2 variables declared or assigned */
    const char *decl[2]; /* names with '$' */
    bool assign;         /* `=` rather than `:=` */
    tmpl_cmd_t **cmds;
    size_t n_cmds;
};

typedef enum { TN_TEXT, TN_ACTION, TN_IF, TN_RANGE, TN_WITH, TN_BREAK, TN_CONTINUE } tmpl_node_kind_t;

typedef struct tmpl_node tmpl_node_t;
struct tmpl_node {
    tmpl_node_kind_t kind;
    int line, col;
    const char *text; /* TN_TEXT */
    size_t len;
    tmpl_pipe_t *pipe;
    tmpl_node_t *list, *else_list;
    tmpl_node_t *next;
};

struct rules_template {
    vg_arena_t arena;
    const char *name;
    tmpl_node_t *root;
};

/* Template values, and Go's fmt over them (defined in template_fmt.c). */
typedef enum { TV_NIL, TV_STR, TV_FLOAT, TV_INT, TV_BOOL, TV_LABELS, TV_VEC, TV_SAMPLE, TV_TIME, TV_ARGS, TV_DATA } tmpl_vkind_t;

typedef struct tmpl_val tmpl_val_t;
typedef struct tmpl_kv {
    const char *key;
    tmpl_val_t *val;
} tmpl_kv_t;

struct tmpl_val {
    tmpl_vkind_t k;
    const char *s; /* TV_STR (not necessarily NUL-terminated) */
    size_t len;    /* TV_STR length, element count for TV_LABELS / TV_VEC / TV_ARGS */
    double f;
    int64_t i; /* TV_INT, TV_TIME (ms since the epoch) */
    bool b;
    const model_label_t *labels; /* TV_LABELS */
    const rules_tmpl_sample_t *vec; /* TV_VEC elements, TV_SAMPLE the one sample */
    const tmpl_kv_t *kvs;           /* TV_ARGS, sorted by key */
};

/* Go's type name of a value ("float64", "string", "map[string]string", ...). */
const char *rules__tmpl_type_name(const tmpl_val_t *v);
/* Appends v as fmt's %v prints it; pointer_amp: a sample prints as &{...} when it is an operand of
 * print/printf, but as {...} when the template engine prints an action's result. */
void rules__tmpl_print_value(vg_buf_t *b, const tmpl_val_t *v, bool pointer_amp);
/* Go's strconv.FormatFloat(v, 'g', -1, 64) as fmt's %v prints it ("1e+06", "0.0001", "+Inf"). */
void rules__tmpl_fmt_float_v(vg_buf_t *b, double v);
/* Go's strconv.Quote. */
void rules__tmpl_quote(vg_buf_t *b, const char *s, size_t len);
/* fmt.Sprint / Sprintln / Sprintf over template values. */
void rules__tmpl_sprint(vg_buf_t *b, const tmpl_val_t *args, size_t n, bool ln);
void rules__tmpl_sprintf(vg_buf_t *b, const char *fmt, size_t fmt_len, const tmpl_val_t *args, size_t n);
/* time.Time.String() of a UTC time given in ms: "2006-01-02 15:04:05.999999999 +0000 UTC". */
void rules__tmpl_fmt_time(vg_buf_t *b, int64_t ms);

#endif
