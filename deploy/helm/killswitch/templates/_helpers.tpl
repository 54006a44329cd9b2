{{/* Chart name, truncated to 63 chars (DNS label). */}}
{{- define "killswitch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: the release name, with the chart name unless it contains it. */}}
{{- define "killswitch.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "killswitch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "killswitch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "killswitch.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "killswitch.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: daemon
{{- end }}

{{- define "killswitch.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "killswitch.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "killswitch.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* SQLite state needs the volume; PostgreSQL does not. */}}
{{- define "killswitch.sqlite" -}}
{{- if hasPrefix "sqlite" .Values.state.url }}true{{ end }}
{{- end }}

{{/* The daemon's config.yaml: the user's config plus listen/state/ha from the values. */}}
{{- define "killswitch.config" -}}
{{- $cfg := deepCopy .Values.config }}
{{- if not $cfg }}
{{- $cfg = .Files.Get "files/demo-config.yaml" | fromYaml }}
{{- end }}
{{- $_ := set $cfg "listen" (printf "0.0.0.0:%d" (int .Values.port)) }}
{{- $_ := set $cfg "state" .Values.state.url }}
{{- $_ := set $cfg "ha" (dict "enabled" .Values.ha.enabled "lease_seconds" .Values.ha.leaseSeconds "shard" (.Values.ha.shard | default "none")) }}
{{- toYaml $cfg }}
{{- end }}
