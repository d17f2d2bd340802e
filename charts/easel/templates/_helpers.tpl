{{/* The release's base name, at most 63 characters. */}}
{{- define "easel.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "easel.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "easel.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{- define "easel.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "easel.registryName" -}}
{{ .Values.registry.name | default (printf "%s-models" (include "easel.fullname" .)) }}
{{- end -}}

{{/* Where the controller reads the API's tokens (EASEL_API_TOKENS_FILE). */}}
{{- define "easel.apiTokensFile" -}}
/etc/easel/api/tokens.yaml
{{- end -}}

{{/*
The name of the Secret (key tokens.yaml) that holds the API's tokens. The
render fails when the API is on and has none: the controller would refuse
to listen on the pod's address without tokens, so a chart that rendered
would only give a crash loop, and there is deliberately no way around it
but api.enabled=false.
*/}}
{{- define "easel.apiTokensSecret" -}}
{{- $t := .Values.api.tokens -}}
{{- if and $t.existingSecret $t.create -}}
{{- fail "api.tokens: set existingSecret or create, not both" -}}
{{- else if $t.existingSecret -}}
{{- $t.existingSecret -}}
{{- else if $t.create -}}
{{- if not $t.tokens -}}
{{- fail "api.tokens.create is true but api.tokens.tokens is empty: list at least one token (name, token or token_sha256, scopes)" -}}
{{- end -}}
{{- printf "%s-api-tokens" (include "easel.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- fail "api.enabled needs API tokens: set api.tokens.existingSecret to a Secret with key tokens.yaml (recommended), or api.tokens.create=true with api.tokens.tokens; an API without tokens is refused (api.enabled=false turns the API off)" -}}
{{- end -}}
{{- end -}}

{{/*
The tokens.yaml of the Secret the chart creates, checked the way the
controller checks it (pkg/api/auth.c), so a mistake fails the render
instead of every replica's start.
*/}}
{{- define "easel.apiTokensDoc" -}}
{{- $names := list -}}
{{- range $i, $e := .Values.api.tokens.tokens -}}
{{- $at := printf "api.tokens.tokens[%d]" $i -}}
{{- if not (kindIs "map" $e) -}}
{{- fail (printf "%s is not a mapping (name, token or token_sha256, scopes, owner)" $at) -}}
{{- end -}}
{{- range $k, $_ := $e -}}
{{- if not (has $k (list "name" "token" "token_sha256" "scopes" "owner")) -}}
{{- fail (printf "%s: unknown key %q (name, token, token_sha256, scopes, owner)" $at $k) -}}
{{- end -}}
{{- end -}}
{{- if not (and (kindIs "string" $e.name) $e.name) -}}
{{- fail (printf "%s needs a name" $at) -}}
{{- end -}}
{{- if has $e.name $names -}}
{{- fail (printf "%s repeats the name %q" $at $e.name) -}}
{{- end -}}
{{- $names = append $names $e.name -}}
{{- if eq (hasKey $e "token") (hasKey $e "token_sha256") -}}
{{- fail (printf "%s (%s) needs exactly one of token and token_sha256" $at $e.name) -}}
{{- end -}}
{{- if and (hasKey $e "token") (not (and (kindIs "string" $e.token) (ge (len (toString $e.token)) 16))) -}}
{{- fail (printf "%s (%s): token must be a string of at least 16 characters" $at $e.name) -}}
{{- end -}}
{{- if and (hasKey $e "token_sha256") (not (regexMatch "^[0-9a-fA-F]{64}$" (toString $e.token_sha256))) -}}
{{- fail (printf "%s (%s): token_sha256 must be 64 hex digits" $at $e.name) -}}
{{- end -}}
{{- if not (and (kindIs "slice" $e.scopes) $e.scopes) -}}
{{- fail (printf "%s (%s) needs scopes: a list of read, write, admin" $at $e.name) -}}
{{- end -}}
{{- range $e.scopes -}}
{{- if not (has . (list "read" "write" "admin")) -}}
{{- fail (printf "%s (%s): scope %v is not one of read, write, admin" $at $e.name .) -}}
{{- end -}}
{{- end -}}
{{- if hasKey $e "owner" -}}
{{- $o := $e.owner -}}
{{- if not (and (kindIs "map" $o) (eq (len $o) 2) (kindIs "string" $o.channel) $o.channel (kindIs "string" $o.id) $o.id) -}}
{{- fail (printf "%s (%s): owner must be {channel: ..., id: ...}" $at $e.name) -}}
{{- end -}}
{{- if has "admin" $e.scopes -}}
{{- fail (printf "%s (%s): an owner-confined token cannot have the admin scope" $at $e.name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- dict "tokens" .Values.api.tokens.tokens | toYaml -}}
{{- end -}}

{{/* The warm pool's pods: component worker, so neither the controller's
Deployment nor its Service selects them. */}}
{{- define "easel.workerSelector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: worker
{{- end -}}

{{/* The longest timeout of an `executor: pool` model, in whole seconds, in
the registry the chart renders (registry.models, else files/models.yaml):
the attempts a worker may be running. A model without a timeout has
easel's default, 120s; with no pool model, 120. worker.longestTimeout overrides it, and
must be set when the chart does not create the registry. */}}
{{- define "easel.longestTimeout" -}}
{{- if .Values.worker.longestTimeout -}}
{{- .Values.worker.longestTimeout | int -}}
{{- else -}}
{{- if not .Values.registry.create -}}
{{- fail "worker.enabled with registry.create=false needs worker.longestTimeout (seconds): the chart cannot read a registry it does not render" -}}
{{- end -}}
{{- $doc := .Values.registry.models | default (.Files.Get "files/models.yaml") | fromYaml -}}
{{- $max := 0 -}}
{{- range $doc.models -}}
{{- if eq (toString .executor) "pool" -}}
{{- $t := toString (.timeout | default "120s") -}}
{{- $m := regexFindAll "^([0-9]+(\\.[0-9]+)?)(ms|s|m|h)?$" $t 1 -}}
{{- if not $m -}}
{{- fail (printf "model %v: timeout %q is not a duration the chart can read (NUMBER with ms, s, m or h); set worker.longestTimeout" .id $t) -}}
{{- end -}}
{{- $num := regexFind "^[0-9]+(\\.[0-9]+)?" $t | float64 -}}
{{- $unit := trimPrefix (regexFind "^[0-9]+(\\.[0-9]+)?" $t) $t -}}
{{- $scale := dict "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0 "" 0.001 -}}
{{- $secs := mulf $num (get $scale $unit) | ceil | int -}}
{{- if gt $secs $max -}}{{- $max = $secs -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- if eq $max 0 -}}{{- $max = 120 -}}{{- end -}}
{{- $max -}}
{{- end -}}
{{- end -}}

{{/* The external metrics API's Service (and the generated certificate's name). */}}
{{- define "easel.metricsApiName" -}}
{{- printf "%s-metrics-api" (include "easel.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Where the controller reads the external metrics API's certificate. */}}
{{- define "easel.metricsApiCertDir" -}}
/etc/easel/metrics-api
{{- end -}}

{{/*
The Secret (type kubernetes.io/tls) holding the external metrics API's
serving certificate, by tls.mode; an unknown mode or a missing name fails
the render rather than a pod that cannot start.
*/}}
{{- define "easel.metricsApiTLSSecret" -}}
{{- $t := .Values.externalMetrics.tls -}}
{{- if eq $t.mode "existingSecret" -}}
{{- if not $t.existingSecret -}}
{{- fail "externalMetrics.tls.mode existingSecret needs externalMetrics.tls.existingSecret (a kubernetes.io/tls Secret) and externalMetrics.apiService.caBundle" -}}
{{- end -}}
{{- $t.existingSecret -}}
{{- else if has $t.mode (list "generate" "certManager") -}}
{{- printf "%s-tls" (include "easel.metricsApiName" .) | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- fail (printf "externalMetrics.tls.mode %q is not one of generate, existingSecret, certManager" $t.mode) -}}
{{- end -}}
{{- end -}}
